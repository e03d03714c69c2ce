"""Crash safety: a 250 means the message is on disk and will be delivered
exactly once, whatever is killed when; a dead child is restarted."""
import os
import re
import signal

import pytest

from conftest import (SMTPClosed, SMTPConn, dot_stuff, make_message,
                      queued_id, wait_until)


def subjects(msgs):
    out = []
    for m in msgs:
        s = re.search(rb"^Subject: (.*)$", m, re.M)
        assert s, m[:200]
        out.append(s.group(1).decode())
    return sorted(out)


def send_in_session(c, subject, rcpts=("demo@localhost",)):
    msg = make_message(subject=subject, body="body of %s\r\n" % subject)
    return queued_id(c.mail_transaction("s@example.org", list(rcpts),
                                        dot_stuff(msg)))


def test_kill9_everything_after_250(petrel):
    sent = []
    for rnd in range(5):
        c = petrel.connect()
        c.ehlo()
        for j in range(4):
            subj = "crash %d-%d" % (rnd, j)
            send_in_session(c, subj)
            sent.append(subj)
        # Right after the last 250: SIGKILL the parent and all children.
        petrel.kill9()
        c.close()
        petrel.start()
    msgs = petrel.wait_messages(len(sent), timeout=120)
    assert subjects(msgs) == sorted(sent)


def test_kill9_after_each_250_multi_rcpt(petrel):
    rcpts = ("demo@localhost", "alice@example.test", "bob@example.test")
    sent = []
    for i in range(8):
        c = petrel.connect()
        c.ehlo()
        subj = "multi crash %d" % i
        send_in_session(c, subj, rcpts)
        sent.append(subj)
        petrel.kill9()
        c.close()
        petrel.start()
    for dom, user in (("localhost", "demo"), ("example.test", "alice"),
                      ("example.test", "bob")):
        msgs = petrel.wait_messages(len(sent), dom, user, timeout=120)
        assert subjects(msgs) == sorted(sent), (dom, user)


def test_kill9_during_data_nothing_delivered(petrel):
    """Killed before the final 250: the client got no 250, and the half
    received message must not be delivered later."""
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(b"Subject: half\r\n\r\n" + b"x" * 1000 + b"\r\n")
    petrel.kill9()
    c.close()
    petrel.start()
    petrel.send(msg=make_message(subject="after crash"))
    msgs = petrel.wait_messages(1)
    assert subjects(msgs) == ["after crash"]
    assert not petrel.queue_files()


def wait_new_child(petrel, name, old_pid):
    def ready():
        pid = petrel.child_pid(name)
        return pid is not None and pid != old_pid and \
            petrel.child_catches(name)
    wait_until(ready, timeout=60, what="a new %s child" % name)


@pytest.mark.petrel_expect_log("killed by signal")
@pytest.mark.parametrize("child", ["smtp", "queue", "local"])
def test_child_restarted_after_kill9(petrel, child):
    petrel.send(msg=make_message(subject="before kill"))
    old = petrel.kill_child(child)
    petrel.wait_log(r"%s pid=%d killed by signal 9" % (child, old))
    wait_new_child(petrel, child, old)
    petrel.send(msg=make_message(subject="after kill"))
    msgs = petrel.wait_messages(2, timeout=60)
    assert subjects(msgs) == ["after kill", "before kill"]


@pytest.mark.petrel_expect_log("killed by signal")
@pytest.mark.parametrize("child", ["queue", "local"])
def test_child_kill9_right_after_250(petrel, child):
    """Kill a child immediately after each 250; all arrive exactly once."""
    sent = []
    for i in range(4):
        c = SMTPConn(petrel.mx)
        c.ehlo()
        subj = "%s killed %d" % (child, i)
        send_in_session(c, subj, ("demo@localhost", "alice@example.test"))
        sent.append(subj)
        old = petrel.kill_child(child)
        c.close()
        wait_new_child(petrel, child, old)
    for dom, user in (("localhost", "demo"), ("example.test", "alice")):
        msgs = petrel.wait_messages(len(sent), dom, user, timeout=120)
        assert subjects(msgs) == sorted(sent)


@pytest.mark.petrel_expect_log("killed by signal")
def test_smtp_kill_drops_session_only(petrel):
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(b"Subject: lost\r\n\r\npartial\r\n")
    old = petrel.kill_child("smtp")
    with pytest.raises((SMTPClosed, OSError)):
        c.send(b"more\r\n.\r\n")
        c.read_reply()
    c.close()
    wait_new_child(petrel, "smtp", old)
    petrel.send(msg=make_message(subject="next"))
    msgs = petrel.wait_messages(1)
    assert subjects(msgs) == ["next"]
    assert not petrel.queue_files()


@pytest.mark.petrel_expect_log("killed by signal")
def test_queue_kill_during_data_gives_4xx(petrel):
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(b"Subject: queue died\r\n\r\npartial\r\n")
    old = petrel.kill_child("queue")
    petrel.wait_log(r"queue pid=%d killed by signal 9" % old)
    c.send(b"rest\r\n.\r\n")
    r = c.read_reply()
    assert r.code // 100 == 4, r
    # The session survives and a new transaction works once the queue is
    # back.
    wait_new_child(petrel, "queue", old)
    assert c.cmd("RSET").code == 250

    def try_send():
        r = c.cmd("MAIL FROM:<s@example.org>")
        assert r.code == 250, r
        assert c.cmd("RCPT TO:<demo@localhost>").code == 250
        r = c.cmd("DATA")
        if r.code != 354:
            assert r.code // 100 == 4, r
            return False
        c.send(dot_stuff(make_message(subject="queue back")) + b".\r\n")
        r = c.read_reply()
        if r.code // 100 == 4:
            return False
        queued_id(r)
        return True
    wait_until(try_send, timeout=60, interval=0.5,
               what="the new queue to accept mail")
    c.quit()
    msgs = petrel.wait_messages(1)
    assert subjects(msgs) == ["queue back"]


@pytest.mark.petrel_expect_log("killed by signal", "exited with status")
def test_local_child_sigterm_restarted(petrel):
    """A child stopped with SIGTERM behind the parent's back is restarted
    like a crashed one."""
    old = petrel.kill_child("local", signal.SIGTERM)
    wait_new_child(petrel, "local", old)
    petrel.send(msg=make_message(subject="after local sigterm"))
    assert subjects(petrel.wait_messages(1)) == ["after local sigterm"]


def test_parent_kill9_children_follow(petrel):
    """If the parent dies, the children notice and exit (they would hold
    the listening sockets otherwise), and a restart works."""
    petrel.send(msg=make_message(subject="before parent death"))
    os.kill(petrel.pid, signal.SIGKILL)
    petrel.proc.wait(30)
    wait_until(lambda: not petrel.group_pids(), timeout=60,
               what="the children to exit after the parent died "
               "(left: %r)" % petrel.group_pids())
    petrel.start()
    petrel.send(msg=make_message(subject="after parent death"))
    msgs = petrel.wait_messages(2)
    assert subjects(msgs) == ["after parent death", "before parent death"]


def test_sighup_during_transaction(petrel):
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    petrel.users.append("carol@example.test")
    petrel.write_users()
    off = len(petrel.log())
    petrel.sighup()
    petrel.wait_log(r"reloaded", start=off)
    assert c.cmd("RCPT TO:<alice@example.test>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(dot_stuff(make_message(subject="across reload")) + b".\r\n")
    queued_id(c.read_reply())
    c.quit()
    assert subjects(petrel.wait_messages(1)) == ["across reload"]
    assert len(petrel.wait_messages(1, "example.test", "alice")) == 1
