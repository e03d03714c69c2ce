"""Timeouts (RFC 5321 4.5.3.2) and a full spool (452 4.3.1)."""
import os
import subprocess
import tempfile

import pytest

from conftest import dot_stuff, make_message, queued_id, \
    wait_until


@pytest.mark.petrel_conf("timeout-command 2s")
def test_idle_timeout_421(petrel):
    c = petrel.connect()
    # Silent client: the server speaks first with 421 4.4.2, then closes.
    r = c.read_reply()
    assert r.code == 421 and r.esc == "4.4.2", r
    c.expect_closed()
    c.close()


@pytest.mark.petrel_conf("timeout-command 2s")
def test_idle_timeout_after_ehlo(petrel):
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    r = c.read_reply()
    assert r.code == 421 and r.esc == "4.4.2", r
    c.expect_closed()
    c.close()


@pytest.mark.petrel_conf("timeout-data 2s")
def test_data_timeout_nothing_delivered(petrel):
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(b"Subject: stalled\r\n\r\nhalf a message\r\n")
    r = c.read_reply()
    assert r.code == 421 and r.esc == "4.4.2", r
    c.expect_closed()
    c.close()
    petrel.send(msg=make_message(subject="sentinel"))
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1 and b"sentinel" in msgs[0]
    assert not petrel.queue_files()


@pytest.mark.petrel_conf("timeout-command 2s")
def test_slow_but_active_client_not_cut(petrel):
    """The timeout is per command, not per session."""
    import time
    c = petrel.connect()
    c.ehlo()
    for _ in range(3):
        time.sleep(1)
        assert c.cmd("NOOP").code == 250
    c.quit()


@pytest.fixture
def small_tmpfs():
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    d = tempfile.mkdtemp(prefix="petrel-spool-")
    os.chmod(d, 0o755)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs",
                        d], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        os.rmdir(d)
        pytest.skip("cannot mount a tmpfs: %s" % p.stdout.decode().strip())
    yield d
    subprocess.run(["umount", d])
    try:
        os.rmdir(d)
    except OSError:
        pass


def test_full_spool_452(petrel_factory, small_tmpfs):
    srv = petrel_factory(extra=["spool-dir %s" % small_tmpfs,
                                "max-message-size 10M"])
    try:
        c = srv.connect()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@example.org>").code == 250
        assert c.cmd("RCPT TO:<demo@localhost>").code == 250
        assert c.cmd("DATA").code == 354
        line = b"f" * 998 + b"\r\n"
        c.send(make_message(subject="too big for the disk"))
        for _ in range(2 * 1024):          # 2 MB
            c.send(line)
        c.send(b".\r\n")
        r = c.read_reply()
        assert r.code in (452, 451), r
        if r.code == 452:
            assert r.esc == "4.3.1", r
        # The session goes on.
        assert c.cmd("RSET").code == 250
        # The partial file is gone from the spool.
        wait_until(lambda: not srv.queue_files(),
                   what="the spool to be cleaned (%r)" % srv.queue_files())
        # A small message still goes through.
        r = c.mail_transaction("s@example.org", ["demo@localhost"],
                               dot_stuff(make_message(subject="small")))
        queued_id(r)
        c.quit()
        msgs = srv.wait_messages(1)
        assert len(msgs) == 1 and b"Subject: small" in msgs[0]
        assert not srv.queue_files()
    finally:
        srv.stop()


def test_full_spool_bdat_452(petrel_factory, small_tmpfs):
    srv = petrel_factory(extra=["spool-dir %s" % small_tmpfs,
                                "max-message-size 10M"])
    try:
        c = srv.connect()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@example.org>").code == 250
        assert c.cmd("RCPT TO:<demo@localhost>").code == 250
        chunk = (b"g" * 998 + b"\r\n") * 1024      # 1 MB
        replies = []
        for last in (False, True):
            c.send(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"")
                   + chunk)
            r = c.read_reply()
            replies.append(r)
            if r.code != 250:
                break
        assert replies[-1].code in (452, 451, 503), replies
        assert any(r.code in (452, 451) for r in replies), replies
        assert c.cmd("RSET").code == 250
        wait_until(lambda: not srv.queue_files(),
                   what="the spool to be cleaned (%r)" % srv.queue_files())
        r = c.mail_transaction("s@example.org", ["demo@localhost"],
                               dot_stuff(make_message(subject="small")))
        queued_id(r)
        c.quit()
        msgs = srv.wait_messages(1)
        assert len(msgs) == 1 and b"Subject: small" in msgs[0]
    finally:
        srv.stop()
