"""SMTP smuggling (CVE-2023-51764 class) and DATA transparency
(RFC 5321 2.3.8, 4.1.1.4, 4.5.2)."""
import pytest

from conftest import body_of, dot_stuff, make_message, queued_id, \
    send_sentinel

SMUGGLED = (b"MAIL FROM:<evil@x.test>\r\n"
            b"RCPT TO:<demo@localhost>\r\n"
            b"DATA\r\n"
            b"From: <evil@x.test>\r\nSubject: smuggled\r\n\r\nevil\r\n")


def open_data(c, rcpt="demo@localhost"):
    c.ehlo()
    assert c.cmd("MAIL FROM:<sender@example.org>").code == 250
    assert c.cmd("RCPT TO:<%s>" % rcpt).code == 250
    assert c.cmd("DATA").code == 354


def assert_only_sentinel(petrel):
    send_sentinel(petrel)
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1, msgs
    assert b"Subject: sentinel" in msgs[0], msgs
    assert b"smuggled" not in msgs[0]


@pytest.mark.parametrize("fake_end", [b"\n.\n", b"\r\n.\n", b"\n.\r\n",
                                      b"\r.\r\n", b"\r\n.\r", b"\n.\r"],
                         ids=["LF.LF", "CRLF.LF", "LF.CRLF", "CR.CRLF",
                              "CRLF.CR", "LF.CR"])
def test_smuggling_rejected(petrel, fake_end):
    c = petrel.connect()
    open_data(c)
    c.send(b"From: <sender@example.org>\r\nSubject: carrier\r\n\r\nhello" +
           fake_end + SMUGGLED + b"\r\n.\r\n")
    r = c.read_reply()
    assert r.code == 550 and r.esc == "5.5.2", r
    # Exactly one reply for the whole DATA: the next one is NOOP's. (A
    # smuggled transaction would have produced 250/250/354/... here.)
    c.send(b"NOOP\r\n")
    r = c.read_reply()
    assert r.code == 250 and r.esc == "2.0.0", r
    c.quit()
    # Neither the carrier nor the smuggled message was delivered.
    assert_only_sentinel(petrel)


@pytest.mark.parametrize("fake_end", [b"\n.\n", b"\r\n.\n", b"\n.\r\n",
                                      b"\r.\r\n"],
                         ids=["LF.LF", "CRLF.LF", "LF.CRLF", "CR.CRLF"])
def test_smuggling_split_writes(petrel, fake_end):
    """The same, with the fake end of data split across TCP writes."""
    c = petrel.connect()
    open_data(c)
    c.send(b"Subject: carrier\r\n\r\nhello")
    for b in fake_end:
        c.send(bytes([b]))
    c.send(SMUGGLED)
    c.send(b"\r\n.\r\n")
    r = c.read_reply()
    assert r.code == 550 and r.esc == "5.5.2", r
    r = c.cmd("NOOP")
    assert r.code == 250 and r.esc == "2.0.0", r
    c.quit()
    assert_only_sentinel(petrel)


def test_bare_lf_mid_line_rejected(petrel):
    c = petrel.connect()
    open_data(c)
    c.send(b"Subject: bare lf\r\n\r\nline one\nstill line one\r\n.\r\n")
    r = c.read_reply()
    assert r.code == 550 and r.esc == "5.5.2", r
    assert c.cmd("NOOP").code == 250
    c.quit()
    assert_only_sentinel(petrel)


def test_bare_cr_mid_line_rejected(petrel):
    c = petrel.connect()
    open_data(c)
    c.send(b"Subject: bare cr\r\n\r\nline one\rstill line one\r\n.\r\n")
    r = c.read_reply()
    assert r.code == 550 and r.esc == "5.5.2", r
    assert c.cmd("NOOP").code == 250
    c.quit()
    assert_only_sentinel(petrel)


def test_dot_stuffing_removed(petrel):
    c = petrel.connect()
    open_data(c)
    c.send(b"Subject: dots\r\n\r\n"
           b"..one dot\r\n"
           b"...two dots\r\n"
           b"..\r\n"
           b"no dot\r\n"
           b".\r\n")
    queued_id(c.read_reply())
    c.quit()
    raw = petrel.wait_messages(1)[0]
    assert body_of(raw) == b".one dot\n..two dots\n.\nno dot\n"


def test_dot_stuffing_round_trip(petrel):
    body = ".\r\n..\r\n.leading\r\nmiddle . dot\r\n. space\r\n"
    petrel.send(msg=make_message(subject="round trip", body=body))
    raw = petrel.wait_messages(1)[0]
    assert body_of(raw) == body.replace("\r\n", "\n").encode()


def test_end_of_data_split_across_writes(petrel):
    c = petrel.connect()
    open_data(c)
    c.send(b"Subject: split end\r\n\r\nbody\r")
    c.send(b"\n")
    c.send(b".")
    c.send(b"\r")
    c.send(b"\n")
    queued_id(c.read_reply())
    c.quit()
    raw = petrel.wait_messages(1)[0]
    assert body_of(raw) == b"body\n"


def test_empty_message_body(petrel):
    c = petrel.connect()
    open_data(c)
    c.send(b".\r\n")
    queued_id(c.read_reply())
    c.quit()
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1


def test_8bit_body_delivered_intact(petrel):
    body = "Gr\u00fc\u00dfe, \u03b4\u03bf\u03ba\u03b9\u03bc\u03ae\r\n"
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<sender@example.org> BODY=8BITMIME").code == 250
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(dot_stuff(make_message(subject="8bit", body=body)) + b".\r\n")
    queued_id(c.read_reply())
    c.quit()
    raw = petrel.wait_messages(1)[0]
    assert body_of(raw) == body.replace("\r\n", "\n").encode("utf-8")
