"""Basic delivery and the EHLO/HELO greeting (RFC 5321, 1869, 2034, 3848)."""
import re
import smtplib
import subprocess

from conftest import (HOSTNAME, body_of, make_message, parse_headers,
                      queued_id, dot_stuff)

SWAKS = "/usr/bin/swaks"


def header_values(raw, name):
    return [v for k, v in parse_headers(raw) if k.lower() == name.lower()]


def check_trace(raw, qid, rcpt, proto="ESMTP"):
    hdrs = parse_headers(raw)
    names = [k.lower() for k, _ in hdrs]
    # Return-Path and Delivered-To are prepended, Received follows.
    assert names[:3] == ["return-path", "delivered-to", "received"], names
    assert header_values(raw, "Delivered-To") == [rcpt]
    rec = header_values(raw, "Received")[0]
    assert "[127.0.0.1]" in rec, rec
    assert re.search(r"\bby %s\b" % re.escape(HOSTNAME), rec), rec
    assert re.search(r"\bwith %s\b" % proto, rec), rec
    assert re.search(r"\bid %s\b" % re.escape(qid), rec), rec
    assert ";" in rec, rec  # the date
    return rec


def test_smtplib_delivery(petrel):
    with smtplib.SMTP("127.0.0.1", petrel.mx, timeout=60) as s:
        s.ehlo("client.test")
        msg = make_message(subject="smtplib basic", body="Hello there.\r\n")
        s.mail("sender@example.org")
        code, _ = s.rcpt("demo@localhost")
        assert code == 250
        code, resp = s.data(msg)
        assert code == 250
        resp = resp.decode()
        m = re.match(r"^2\.0\.0 Ok: queued as ([0-9A-Za-z]+)$", resp)
        assert m, resp
        qid = m.group(1)
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1
    raw = msgs[0]
    assert header_values(raw, "Return-Path") == ["<sender@example.org>"]
    rec = check_trace(raw, qid, "demo@localhost")
    assert "client.test" in rec
    assert header_values(raw, "Subject") == ["smtplib basic"]
    assert body_of(raw) == b"Hello there.\n"
    # Maildir holds LF line ends.
    assert b"\r\n" not in raw


def test_swaks_delivery(petrel):
    p = subprocess.run(
        [SWAKS, "--server", "127.0.0.1", "--port", str(petrel.mx),
         "--helo", "swaks.test", "--from", "swaks@example.org",
         "--to", "alice@example.test", "--header", "Subject: via swaks",
         "--body", "swaks body line", "--timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0, out
    m = re.search(r"<-  250 2\.0\.0 Ok: queued as ([0-9A-Za-z]+)", out)
    assert m, out
    qid = m.group(1)
    msgs = petrel.wait_messages(1, "example.test", "alice")
    assert len(msgs) == 1
    raw = msgs[0]
    assert header_values(raw, "Return-Path") == ["<swaks@example.org>"]
    rec = check_trace(raw, qid, "alice@example.test")
    assert "swaks.test" in rec
    assert b"swaks body line" in body_of(raw)


def test_helo_gives_smtp_protocol(petrel):
    c = petrel.connect()
    r = c.cmd("HELO client.test")
    assert r.code == 250
    r = c.mail_transaction("s@example.org", ["demo@localhost"],
                           dot_stuff(make_message()))
    qid = queued_id(r)
    c.quit()
    raw = petrel.wait_messages(1)[0]
    rec = header_values(raw, "Received")[0]
    assert re.search(r"\bwith SMTP\b", rec), rec
    assert qid in rec


def test_greeting(shared_petrel):
    c = shared_petrel.connect()
    assert c.greeting.lines[0].startswith(HOSTNAME), c.greeting
    c.quit()


def test_ehlo_extensions(shared_petrel):
    c = shared_petrel.connect()
    r = c.ehlo()
    assert r.lines[0].startswith(HOSTNAME), r
    ext = c.extensions(r)
    keys = [e.split()[0] for e in ext]
    for want in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES",
                 "SMTPUTF8", "DSN", "CHUNKING", "STARTTLS", "LIMITS"):
        assert want in keys, (want, ext)
    size = [e for e in ext if e.startswith("SIZE")][0].split()
    assert len(size) == 2 and size[1].isdigit() and int(size[1]) > 0, size
    assert int(size[1]) == 50 * 1024 * 1024  # the default max-message-size
    limits = [e for e in ext if e.startswith("LIMITS")][0]
    m = re.search(r"\bRCPTMAX=(\d+)\b", limits)
    assert m and int(m.group(1)) >= 100, limits
    # No duplicate keywords.
    assert len(keys) == len(set(keys)), ext
    c.quit()


def test_ehlo_size_follows_config(petrel_factory):
    srv = petrel_factory(extra=["max-message-size 100K"])
    c = srv.connect()
    ext = c.extensions(c.ehlo())
    assert "SIZE 102400" in ext, ext
    c.quit()


def test_helo_single_line(shared_petrel):
    c = shared_petrel.connect()
    c.send(b"HELO client.test\r\nNOOP\r\n")
    r = c.read_reply(esc=False)
    assert r.code == 250 and len(r.lines) == 1, r
    # The next reply belongs to NOOP: HELO sent exactly one line.
    r2 = c.read_reply()
    assert r2.code == 250 and r2.esc == "2.0.0", r2
    c.quit()


def test_ehlo_again_resets(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@example.org>").code == 250
    c.ehlo("again.test")
    # The transaction is gone: RCPT needs a new MAIL.
    r = c.cmd("RCPT TO:<demo@localhost>")
    assert r.code == 503, r
    c.quit()


def test_ehlo_without_argument(shared_petrel):
    c = shared_petrel.connect()
    r = c.cmd("EHLO", esc=True)
    assert r.code == 501, r
    r = c.cmd("HELO", esc=True)
    assert r.code == 501, r
    c.quit()
