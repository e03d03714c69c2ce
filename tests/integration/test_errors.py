"""Command errors, sequencing, limits (RFC 5321 4.1, 4.2, 4.5.3; RFC 1870)."""
import pytest

from conftest import SMTPClosed, dot_stuff, make_message, send_sentinel


@pytest.fixture
def conn(shared_petrel):
    c = shared_petrel.connect()
    yield c
    c.close()


def test_unknown_command_500(conn):
    r = conn.cmd("FROBNICATE now")
    assert r.code == 500 and r.esc.startswith("5.5."), r
    r = conn.cmd("")
    assert r.code == 500, r
    conn.quit()


def test_mail_before_ehlo_503(conn):
    r = conn.cmd("MAIL FROM:<a@example.org>")
    assert r.code == 503 and r.esc == "5.5.1", r
    conn.quit()


def test_rcpt_before_mail_503(conn):
    conn.ehlo()
    r = conn.cmd("RCPT TO:<demo@localhost>")
    assert r.code == 503 and r.esc == "5.5.1", r
    conn.quit()


def test_data_before_mail_503(conn):
    conn.ehlo()
    r = conn.cmd("DATA")
    assert r.code == 503, r
    conn.quit()


def test_data_before_rcpt_503_or_554(conn):
    conn.ehlo()
    assert conn.cmd("MAIL FROM:<a@example.org>").code == 250
    r = conn.cmd("DATA")
    assert r.code in (503, 554), r
    # Still in command mode: the next command is answered as a command.
    r = conn.cmd("NOOP")
    assert r.code == 250, r
    conn.quit()


def test_nested_mail_503(conn):
    conn.ehlo()
    assert conn.cmd("MAIL FROM:<a@example.org>").code == 250
    r = conn.cmd("MAIL FROM:<b@example.org>")
    assert r.code == 503 and r.esc == "5.5.1", r
    conn.quit()


@pytest.mark.parametrize("arg", [
    "MAIL FROM:a@example.org",          # no angle brackets
    "MAIL FROM:<a@@example.org>",
    "MAIL FROM:<a@example.org",
    "MAIL FROM:<a b@example.org>",
    "MAIL FROM:<@example.org>",
    "MAIL TO:<a@example.org>",
])
def test_bad_sender_syntax_501(conn, arg):
    conn.ehlo()
    r = conn.cmd(arg)
    assert r.code == 501, r
    conn.quit()


@pytest.mark.parametrize("arg", [
    "RCPT TO:demo@localhost",
    "RCPT TO:<demo@localhost",
    "RCPT TO:<demo@@localhost>",
    "RCPT TO:<>",
    "RCPT FROM:<demo@localhost>",
])
def test_bad_recipient_syntax_501(conn, arg):
    conn.ehlo()
    assert conn.cmd("MAIL FROM:<a@example.org>").code == 250
    r = conn.cmd(arg)
    assert r.code == 501, r
    conn.quit()


def test_unknown_mail_parameter_555(conn):
    conn.ehlo()
    r = conn.cmd("MAIL FROM:<a@example.org> FOO=BAR")
    assert r.code == 555 and r.esc == "5.5.4", r
    conn.quit()


def test_unknown_rcpt_parameter_555(conn):
    conn.ehlo()
    assert conn.cmd("MAIL FROM:<a@example.org>").code == 250
    r = conn.cmd("RCPT TO:<demo@localhost> FOO=BAR")
    assert r.code == 555 and r.esc == "5.5.4", r
    conn.quit()


def test_rset_and_noop_250(conn):
    conn.ehlo()
    assert conn.cmd("MAIL FROM:<a@example.org>").code == 250
    r = conn.cmd("RSET")
    assert r.code == 250 and r.esc == "2.0.0", r
    # The transaction is gone.
    assert conn.cmd("RCPT TO:<demo@localhost>").code == 503
    r = conn.cmd("NOOP")
    assert r.code == 250 and r.esc == "2.0.0", r
    r = conn.cmd("NOOP some argument")
    assert r.code == 250, r
    # A new transaction can start after RSET.
    assert conn.cmd("MAIL FROM:<a@example.org>").code == 250
    conn.quit()


def test_vrfy_252(conn):
    conn.ehlo()
    r = conn.cmd("VRFY demo")
    assert r.code == 252, r
    r = conn.cmd("VRFY nobody@localhost")
    assert r.code == 252, r  # discloses nothing
    conn.quit()


def test_expn_502(conn):
    conn.ehlo()
    r = conn.cmd("EXPN team@example.test")
    assert r.code == 502, r
    conn.quit()


def test_help_214(conn):
    r = conn.cmd("HELP")
    assert r.code == 214, r
    conn.quit()


def test_quit_221_closes(conn):
    conn.ehlo()
    r = conn.cmd("QUIT")
    assert r.code == 221 and r.esc == "2.0.0", r
    conn.expect_closed()


def test_case_insensitive_verbs(petrel):
    c = petrel.connect()
    r = c.cmd("eHlO client.test")
    assert r.code == 250 and len(r.lines) > 1, r
    assert c.cmd("mail from:<a@example.org>").code == 250
    assert c.cmd("rcpt to:<demo@localhost>").code == 250
    assert c.cmd("Rcpt To:<alice@example.test>").code == 250
    r = c.cmd("data")
    assert r.code == 354, r
    c.send(dot_stuff(make_message(subject="lower case")) + b".\r\n")
    assert c.read_reply().code == 250
    assert c.cmd("noop").code == 250
    c.send(b"quit\r\n")
    assert c.read_reply().code == 221
    c.expect_closed()
    msgs = petrel.wait_messages(1)
    assert b"Subject: lower case" in msgs[0]


def test_starttls_with_parameter_501(conn):
    conn.ehlo()
    r = conn.cmd("STARTTLS now")
    assert r.code == 501, r
    # Still plaintext and usable.
    assert conn.cmd("NOOP").code == 250
    conn.quit()


@pytest.mark.petrel_conf("max-errors 5")
def test_too_many_errors_421(petrel):
    c = petrel.connect()
    c.ehlo()
    seen = []
    for i in range(10):
        try:
            c.send(b"BOGUS%d\r\n" % i)
            r = c.read_reply()
        except SMTPClosed:
            break
        seen.append(r)
        if r.code == 421:
            break
        assert r.code == 500, r
        # A 421 may follow the last 500 without another command.
        if len(seen) >= 5:
            r = c.read_reply()
            seen.append(r)
            break
    codes = [r.code for r in seen]
    assert 421 in codes, seen
    assert codes.index(421) <= 5, seen  # at most max-errors bad commands
    r421 = seen[codes.index(421)]
    assert r421.esc and r421.esc.startswith("4."), r421
    c.expect_closed()
    c.close()


# ---- line length and line ends ----

def test_command_line_too_long(conn):
    conn.ehlo()
    long = b"NOOP " + b"x" * 4995 + b"\r\n"
    conn.send(long)
    r = conn.read_reply()
    assert r.code == 500, r
    # The session continues, and only one reply was sent for that line.
    r = conn.cmd("HELP")
    assert r.code == 214, r
    assert conn.cmd("MAIL FROM:<a@example.org>").code == 250
    conn.quit()


def test_command_line_too_long_mail_not_executed(conn):
    conn.ehlo()
    conn.send(b"MAIL FROM:<" + b"a" * 5000 + b"@example.org>\r\n")
    r = conn.read_reply()
    assert r.code == 500, r
    # No transaction was started by the over-long line.
    r = conn.cmd("RCPT TO:<demo@localhost>")
    assert r.code == 503, r
    conn.quit()


def test_bare_lf_in_command_line(conn):
    conn.ehlo()
    conn.send(b"MAIL FROM:<a@example.org>\n")
    r = conn.read_reply()
    assert r.code == 500, r
    # The MAIL was not executed.
    r = conn.cmd("RCPT TO:<demo@localhost>")
    assert r.code == 503, r
    conn.quit()


def test_bare_cr_in_command_line(conn):
    conn.ehlo()
    conn.send(b"MAIL FROM:<a@example.org>\rNOOP\r\n")
    r = conn.read_reply()
    assert r.code == 500, r
    # Whatever the server does with the bytes after the bare CR, the MAIL
    # must not have been executed.
    conn.send(b"HELP\r\n")
    while True:
        r = conn.read_reply()
        if r.code == 214:
            break
        assert r.code in (500, 250) and r.esc != "2.1.0", r
    r = conn.cmd("RCPT TO:<demo@localhost>")
    assert r.code == 503, r
    conn.quit()


# ---- SIZE (RFC 1870) ----

@pytest.mark.petrel_conf("max-message-size 100K")
def test_mail_size_parameter_over_limit_552(petrel):
    c = petrel.connect()
    c.ehlo()
    r = c.cmd("MAIL FROM:<a@example.org> SIZE=204800")
    assert r.code == 552 and r.esc == "5.3.4", r
    r = c.cmd("MAIL FROM:<a@example.org> SIZE=1000")
    assert r.code == 250, r
    c.quit()


@pytest.mark.petrel_conf("max-message-size 100K")
def test_message_over_limit_552_not_delivered(petrel):
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@example.org>").code == 250
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    assert c.cmd("DATA").code == 354
    body = (b"x" * 998 + b"\r\n") * 150   # 150 KB
    c.send(dot_stuff(make_message(subject="too big")) + body + b".\r\n")
    r = c.read_reply()
    assert r.code == 552 and r.esc == "5.3.4", r
    # The session continues.
    assert c.cmd("NOOP").code == 250
    c.quit()
    send_sentinel(petrel)
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1 and b"Subject: sentinel" in msgs[0], msgs
    assert not petrel.queue_files()


@pytest.mark.petrel_conf("max-message-size 100K")
def test_message_under_limit_delivered(petrel):
    body = (b"y" * 98 + b"\r\n") * 900    # 90 KB
    petrel.send(msg=make_message(subject="fits", body=body.decode()))
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1
    assert msgs[0].count(b"y" * 98 + b"\n") == 900


def test_message_line_over_1000_rejected(petrel):
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@example.org>").code == 250
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(make_message(subject="long line") + b"z" * 1200 + b"\r\n.\r\n")
    r = c.read_reply()
    assert r.code == 500 or r.code // 100 == 5, r
    assert c.cmd("NOOP").code == 250
    c.quit()
