"""Many sessions at once; every accepted message delivered exactly once."""
import re
import threading

import pytest

from conftest import SMTPConn, dot_stuff, make_message, queued_id


def test_50_concurrent_sessions(petrel):
    n_sessions, per_session = 50, 2
    errors, qids = [], []
    lock = threading.Lock()
    start = threading.Barrier(n_sessions)

    def worker(i):
        try:
            start.wait(60)
            c = SMTPConn(petrel.mx, timeout=120)
            c.ehlo("client%d.test" % i)
            for j in range(per_session):
                msg = make_message(subject="conc %d-%d" % (i, j),
                                   body="session %d message %d\r\n" % (i, j))
                r = c.mail_transaction("s%d@example.org" % i,
                                       ["demo@localhost"], dot_stuff(msg))
                q = queued_id(r)
                with lock:
                    qids.append(q)
            c.quit()
        except BaseException as e:  # collected and reported below
            with lock:
                errors.append("session %d: %r" % (i, e))

    threads = [threading.Thread(target=worker, args=(i,))
               for i in range(n_sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), "sessions hung"
    assert not errors, errors[:5]
    total = n_sessions * per_session
    assert len(set(qids)) == total, "queue ids are not unique"
    msgs = petrel.wait_messages(total, timeout=120)
    assert len(msgs) == total
    subjects = []
    for m in msgs:
        s = re.search(rb"^Subject: (.*)$", m, re.M)
        assert s, m[:200]
        subjects.append(s.group(1).decode())
    want = sorted("conc %d-%d" % (i, j) for i in range(n_sessions)
                  for j in range(per_session))
    assert sorted(subjects) == want


def test_concurrent_open_sessions_up_to_per_ip_limit(petrel):
    """50 sessions from one address may be open at the same time (the
    default per-IP limit is at least that)."""
    conns = []
    try:
        for i in range(50):
            c = SMTPConn(petrel.mx, timeout=60)
            conns.append(c)
        for c in conns:
            assert c.cmd("NOOP").code == 250
    finally:
        for c in conns:
            c.close()


@pytest.mark.petrel_conf("max-connections-per-ip 3")
def test_per_ip_limit_enforced(petrel):
    conns = [SMTPConn(petrel.mx, timeout=60) for _ in range(3)]
    try:
        c = SMTPConn(petrel.mx, timeout=60, greeting=False)
        r = c.read_reply()
        assert r.code == 421 and r.esc.startswith("4."), r
        c.expect_closed()
        c.close()
        # Closing one frees a slot.
        conns.pop().quit()

        def slot_free():
            try:
                c2 = SMTPConn(petrel.mx, timeout=60, greeting=False)
            except OSError:
                return False
            r2 = c2.read_reply(esc=False)
            if r2.code == 220:
                conns.append(c2)
                return True
            c2.close()
            return False
        from conftest import wait_until
        wait_until(slot_free, what="a free per-IP slot")
    finally:
        for c in conns:
            c.close()
