"""A sibling process dying at the worst moment: while the smtp process is
about to hand a pipelined transaction to the queue, or while the queue is
about to hand a delivery to the local process. Nothing crashes, the client
gets an answer for every command, and acknowledged mail arrives once."""
import os
import signal
import time

import pytest

from conftest import wait_until


def read_until(conn, code, limit=10):
    """Reads replies until one with the given code; returns all of them."""
    seen = []
    for _ in range(limit):
        r = conn.read_reply()
        seen.append(r)
        if r.code == code:
            return seen
    raise AssertionError("no %d reply in %r" % (code, seen))


@pytest.mark.petrel_expect_log("killed by signal")
def test_queue_dies_under_pipelined_transactions(petrel):
    with petrel.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.org>").code == 250
        assert c.cmd("RCPT TO:<demo@localhost>").code == 250
        smtp, queue = petrel.child_pid("smtp"), petrel.child_pid("queue")
        os.kill(smtp, signal.SIGSTOP)
        try:
            c.send(b"DATA\r\nMAIL FROM:<a@example.org>\r\n"
                   b"RCPT TO:<demo@localhost>\r\nDATA\r\n")
            time.sleep(0.3)
            os.kill(queue, signal.SIGKILL)
            time.sleep(0.3)
        finally:
            os.kill(smtp, signal.SIGCONT)
        # The first DATA fails, the pipelined transaction goes on with the
        # restarted queue.
        r = c.read_reply()
        assert r.code in (451, 452), r
        assert c.read_reply().code == 250
        assert c.read_reply().code == 250
        r = c.read_reply()
        assert r.code in (354, 451), r
        if r.code == 354:
            c.send(b"Subject: after\r\n\r\nbody\r\n.\r\n")
            assert c.read_reply().code == 250
            petrel.wait_messages(1)
    wait_until(lambda: petrel.child_pid("queue") is not None, 30,
               what="a new queue process")
    assert petrel.child_pid("smtp") == smtp, "the smtp process must survive"


@pytest.mark.petrel_expect_log("killed by signal")
def test_local_dies_while_queue_sends_a_delivery(petrel):
    with petrel.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.org>").code == 250
        assert c.cmd("RCPT TO:<demo@localhost>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: faults\r\n\r\nhello\r\n")
        queue, local = petrel.child_pid("queue"), petrel.child_pid("local")
        os.kill(queue, signal.SIGSTOP)
        try:
            c.send(b".\r\n")
            time.sleep(0.3)
            os.kill(local, signal.SIGKILL)
            time.sleep(0.3)
        finally:
            os.kill(queue, signal.SIGCONT)
        # An answer comes (the message is committed instead), well before
        # any timeout.
        r = c.read_reply()
        assert r.code == 250, r
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1 and b"Subject: faults" in msgs[0]
