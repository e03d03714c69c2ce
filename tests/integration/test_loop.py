"""Mail loops (RFC 5321 6.3): a message that has passed through too many
hosts, counted by its Received: fields, is refused with 554 5.4.6."""
import time

from conftest import make_message


def message_with_hops(n, body="loop test\r\n"):
    hops = b"".join(b"Received: from hop%d.test by hop%d.test; "
                    b"Sun, 22 Nov 2026 10:00:00 +0000\r\n" % (i, i + 1)
                    for i in range(n))
    return hops + make_message(subject="hops %d" % n, body=body)


def test_too_many_hops_refused(petrel):
    with petrel.connect() as c:
        c.ehlo()
        r = c.mail_transaction("sender@example.org", ["demo@localhost"],
                               message_with_hops(100))
        assert r.code == 554 and r.esc == "5.4.6", r
        # The session goes on.
        assert c.cmd("NOOP").code == 250
    time.sleep(0.5)
    assert petrel.count() == 0
    assert not petrel.queue_files()


def test_hops_below_limit_accepted(petrel):
    with petrel.connect() as c:
        c.ehlo()
        r = c.mail_transaction("sender@example.org", ["demo@localhost"],
                               message_with_hops(99))
        assert r.code == 250, r
    assert len(petrel.wait_messages(1)) == 1


def test_received_in_body_not_counted(petrel):
    body = "".join("Received: from x%d by y%d; today\r\n" % (i, i)
                   for i in range(150))
    with petrel.connect() as c:
        c.ehlo()
        r = c.mail_transaction("sender@example.org", ["demo@localhost"],
                               make_message(subject="body", body=body))
        assert r.code == 250, r
    assert len(petrel.wait_messages(1)) == 1
