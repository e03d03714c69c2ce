"""Recipients: local users, relay refusal, postmaster, aliases, plus
addressing, SMTPUTF8 (RFC 6531), DSN parameters (RFC 3461)."""
import pytest

from conftest import dot_stuff, make_message, queued_id, send_sentinel


def rcpt(petrel, address, sender="sender@example.org", mail_params=""):
    """The reply to RCPT TO:<address> in a fresh transaction."""
    c = petrel.connect()
    c.ehlo()
    r = c.cmd("MAIL FROM:<%s>%s" % (sender, mail_params))
    assert r.code == 250, r
    r = c.cmd(b"RCPT TO:" + (address if isinstance(address, bytes)
                             else address.encode()))
    c.quit()
    return r


def test_unknown_local_user_550(shared_petrel):
    r = rcpt(shared_petrel, "<nobody@localhost>")
    assert r.code == 550 and r.esc == "5.1.1", r
    r = rcpt(shared_petrel, "<nobody@example.test>")
    assert r.code == 550 and r.esc == "5.1.1", r


def test_remote_domain_relay_denied(shared_petrel):
    r = rcpt(shared_petrel, "<someone@other.test>")
    assert r.code == 554 and r.esc == "5.7.1", r


def test_local_user_case_insensitive(shared_petrel):
    r = rcpt(shared_petrel, "<DEMO@LocalHost>")
    assert r.code == 250, r


@pytest.mark.parametrize("address", [
    "<user%other.test@localhost>",
    "<\"demo@other.test\"@localhost>",
    "<other.test!demo@localhost>",
    "<demo%other.test@localhost>",
])
def test_relay_tricks_no_such_user(shared_petrel, address):
    r = rcpt(shared_petrel, address)
    assert r.code == 550, r


@pytest.mark.parametrize("address", [
    "<@localhost:demo@other.test>",
    "<@localhost,@example.test:demo@other.test>",
    "<demo@[127.0.0.1]>",
    "<demo@[IPv6:::1]>",
    "<demo@localhost.>",
    "<demo@other.test.localhost>",
])
def test_relay_tricks_denied(shared_petrel, address):
    r = rcpt(shared_petrel, address)
    assert r.code // 100 == 5, r
    assert r.code in (501, 550, 554), r


def test_relay_tricks_nothing_leaves(petrel):
    """Whatever the tricks were accepted as, only local mailboxes get
    mail and nothing waits in the queue for a remote host."""
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<sender@example.org>").code == 250
    ok = 0
    for a in ("<user%other.test@localhost>", "<@localhost:demo@other.test>",
              "<\"demo@other.test\"@localhost>", "<other.test!demo@localhost>",
              "<demo@[127.0.0.1]>", "<demo@localhost>"):
        if c.cmd("RCPT TO:" + a).code == 250:
            ok += 1
    assert ok == 1
    assert c.cmd("DATA").code == 354
    c.send(dot_stuff(make_message(subject="tricks")) + b".\r\n")
    queued_id(c.read_reply())
    c.quit()
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1
    assert petrel.all_mailboxes() == {("localhost", "demo"): 1}


@pytest.mark.parametrize("domain", ["localhost", "example.test"])
def test_postmaster_accepted_and_delivered(petrel, domain):
    addr = "postmaster@%s" % domain
    qid = petrel.send([addr], make_message(subject="to pm", to=addr))
    msgs = petrel.wait_messages(1, domain, "postmaster")
    assert len(msgs) == 1
    assert qid.encode() in msgs[0]


def test_postmaster_any_case(shared_petrel):
    r = rcpt(shared_petrel, "<PostMaster@example.test>")
    assert r.code == 250, r


def test_bare_postmaster(petrel):
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<sender@example.org>").code == 250
    r = c.cmd("RCPT TO:<Postmaster>")
    assert r.code == 250, r
    assert c.cmd("DATA").code == 354
    c.send(dot_stuff(make_message(subject="bare pm", to="Postmaster")) +
           b".\r\n")
    queued_id(c.read_reply())
    c.quit()
    petrel.wait_queue_empty()
    boxes = {k: v for k, v in petrel.all_mailboxes().items()
             if k[1] == "postmaster"}
    assert sum(boxes.values()) == 1, boxes


def test_null_sender_accepted(petrel):
    c = petrel.connect()
    c.ehlo()
    r = c.cmd("MAIL FROM:<>")
    assert r.code == 250, r
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(dot_stuff(make_message(subject="bounce")) + b".\r\n")
    queued_id(c.read_reply())
    c.quit()
    raw = petrel.wait_messages(1)[0]
    assert raw.startswith(b"Return-Path: <>\n"), raw[:80]


def test_plus_addressing(petrel):
    petrel.send(["demo+tag@localhost"],
                make_message(subject="plus", to="demo+tag@localhost"))
    raw = petrel.wait_messages(1)[0]
    assert b"Subject: plus" in raw
    assert b"Delivered-To: demo+tag@localhost" in raw or \
        b"Delivered-To: demo@localhost" in raw
    assert not petrel.messages("localhost", "demo+tag")


def test_plus_addressing_unknown_base_user(shared_petrel):
    r = rcpt(shared_petrel, "<nobody+tag@localhost>")
    assert r.code == 550, r


def test_alias_expands(petrel):
    petrel.send(["team@example.test"],
                make_message(subject="team", to="team@example.test"))
    for user in ("alice", "bob"):
        msgs = petrel.wait_messages(1, "example.test", user)
        assert len(msgs) == 1 and b"Subject: team" in msgs[0]
    assert not petrel.messages("example.test", "team")


def test_alias_loop_not_delivered_twice(petrel):
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<demo@localhost>").code == 250
    r = c.cmd("RCPT TO:<loop1@example.test>")
    if r.code != 250:
        assert r.code // 100 == 5, r
        c.quit()
        return
    assert c.cmd("DATA").code == 354
    c.send(dot_stuff(make_message(subject="loop")) + b".\r\n")
    r = c.read_reply()
    c.quit()
    if r.code != 250:
        return
    # Accepted: it must not end up delivered more than once anywhere, and
    # the queue must settle (no endless expansion).
    petrel.wait_queue_empty(timeout=60)
    boxes = petrel.all_mailboxes()
    assert all(n <= 1 for n in boxes.values()), boxes
    for (dom, user) in boxes:
        assert user not in ("loop1", "loop2"), boxes


def test_same_mailbox_once_via_alias_and_direct(petrel):
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<sender@example.org>").code == 250
    assert c.cmd("RCPT TO:<team@example.test>").code == 250
    assert c.cmd("RCPT TO:<alice@example.test>").code == 250
    assert c.cmd("RCPT TO:<ALICE@example.test>").code == 250
    assert c.cmd("RCPT TO:<alice+x@example.test>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(dot_stuff(make_message(subject="dedupe")) + b".\r\n")
    queued_id(c.read_reply())
    c.quit()
    assert len(petrel.wait_messages(1, "example.test", "alice")) == 1
    assert len(petrel.wait_messages(1, "example.test", "bob")) == 1


def test_many_recipients(petrel):
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<sender@example.org>").code == 250
    c.send(b"".join(b"RCPT TO:<demo+%d@localhost>\r\n" % i
                    for i in range(150)))
    replies = c.read_replies(150)
    bad = [r for r in replies if r.code != 250]
    assert not bad, bad[:3]
    assert c.cmd("DATA").code == 354
    c.send(dot_stuff(make_message(subject="150 rcpts")) + b".\r\n")
    queued_id(c.read_reply())
    c.quit()
    # One mailbox, one copy.
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1


def test_many_distinct_recipients(petrel_factory):
    users = ["u%d@example.test" % i for i in range(120)]
    srv = petrel_factory(users=users, aliases=[])
    c = srv.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<sender@example.org>").code == 250
    c.send(b"".join(b"RCPT TO:<%s>\r\n" % u.encode() for u in users))
    replies = c.read_replies(len(users))
    assert all(r.code == 250 for r in replies), \
        [r for r in replies if r.code != 250][:3]
    assert c.cmd("DATA").code == 354
    c.send(dot_stuff(make_message(subject="120 users")) + b".\r\n")
    queued_id(c.read_reply())
    c.quit()
    srv.wait_messages(1, "example.test", "u119", timeout=60)
    for u in users:
        local = u.split("@")[0]
        assert srv.count("example.test", local) == 1, u


def test_smtputf8_sender(petrel):
    c = petrel.connect()
    c.ehlo()
    r = c.cmd("MAIL FROM:<\u03b4\u03bf\u03ba\u03b9\u03bc\u03ae@example.gr> "
              "SMTPUTF8")
    assert r.code == 250, r
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(dot_stuff(make_message(subject="utf8")) + b".\r\n")
    queued_id(c.read_reply())
    c.quit()
    raw = petrel.wait_messages(1)[0]
    assert raw.startswith("Return-Path: <\u03b4\u03bf\u03ba\u03b9\u03bc\u03ae"
                          "@example.gr>\n".encode())
    assert b"UTF8SMTP" in raw  # RFC 6531 3.7.3 protocol name


def test_utf8_sender_without_smtputf8_553(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    r = c.cmd("MAIL FROM:<\u03b4\u03bf\u03ba\u03b9\u03bc\u03ae@example.gr>")
    assert r.code == 553 and r.esc == "5.6.7", r
    c.quit()


def test_utf8_recipient_without_smtputf8(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<sender@example.org>").code == 250
    r = c.cmd("RCPT TO:<\u00fcser@localhost>")
    assert r.code == 553 and r.esc == "5.6.7", r
    c.quit()


def test_smtputf8_needs_ehlo(shared_petrel):
    c = shared_petrel.connect()
    assert c.cmd("HELO client.test").code == 250
    r = c.cmd("MAIL FROM:<a@example.org> SMTPUTF8")
    assert r.code in (501, 555), r
    c.quit()


def test_dsn_parameters_accepted(petrel):
    c = petrel.connect()
    c.ehlo()
    r = c.cmd("MAIL FROM:<bob@example.test> RET=HDRS ENVID=abc")
    assert r.code == 250, r
    r = c.cmd("RCPT TO:<demo@localhost> NOTIFY=SUCCESS,FAILURE "
              "ORCPT=rfc822;demo@localhost")
    assert r.code == 250, r
    r = c.cmd("RCPT TO:<alice@example.test> NOTIFY=NEVER")
    assert r.code == 250, r
    assert c.cmd("DATA").code == 354
    c.send(dot_stuff(make_message(subject="dsn")) + b".\r\n")
    queued_id(c.read_reply())
    c.quit()
    assert len(petrel.wait_messages(1)) == 1
    assert len(petrel.wait_messages(1, "example.test", "alice")) == 1
    # NOTIFY=SUCCESS: the sender hears of demo's delivery (RFC 3461 5.2).
    report, = petrel.wait_messages(1, "example.test", "bob")
    assert b"Action: delivered" in report


@pytest.mark.parametrize("params", [
    "NOTIFY=BOGUS",
    "NOTIFY=NEVER,SUCCESS",
    "NOTIFY=",
    "ORCPT=demo@localhost",
])
def test_dsn_bad_rcpt_params_501(shared_petrel, params):
    c = shared_petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<sender@example.org>").code == 250
    r = c.cmd("RCPT TO:<demo@localhost> " + params)
    assert r.code == 501, r
    c.quit()


@pytest.mark.parametrize("params", ["RET=BOGUS", "RET=FULL RET=HDRS",
                                    "BODY=9BIT", "SIZE=abc"])
def test_bad_mail_params_501(shared_petrel, params):
    c = shared_petrel.connect()
    c.ehlo()
    r = c.cmd("MAIL FROM:<sender@example.org> " + params)
    assert r.code == 501, r
    c.quit()


@pytest.mark.petrel_conf("relay-from 127.0.0.2/32")
def test_relay_from_other_address_still_denied(petrel):
    r = rcpt(petrel, "<someone@other.test>")
    assert r.code == 554 and r.esc == "5.7.1", r


def test_rejected_rcpt_does_not_spoil_transaction(petrel):
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<sender@example.org>").code == 250
    assert c.cmd("RCPT TO:<someone@other.test>").code == 554
    assert c.cmd("RCPT TO:<nobody@localhost>").code == 550
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(dot_stuff(make_message(subject="partial")) + b".\r\n")
    queued_id(c.read_reply())
    c.quit()
    assert len(petrel.wait_messages(1)) == 1
    send_sentinel(petrel, rcpt="bob@example.test")
    petrel.wait_messages(1, "example.test", "bob")
    assert set(petrel.all_mailboxes()) == {("localhost", "demo"),
                                           ("example.test", "bob")}
