"""
SMTP AUTH (RFC 4954) on the submission listeners: PLAIN, LOGIN and
SCRAM-SHA-256 inside TLS only, replies and their enhanced status codes,
failure limits, sender ownership, authenticated relay and the submission
fixes of RFC 6409 (Date:, Message-ID:, Received: ... with ESMTPSA).

Real clients where they exist (swaks, Python's smtplib), raw sockets for
exact bytes, and a SCRAM client written from RFC 5802 (scram.py).
"""
import base64
import hashlib
import hmac
import os
import re
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import (HOSTNAME, SMTPConn, client_tls_context, make_message,
                      parse_headers, queued_id, wait_until)
from scram import ScramClient

PASSWORD = "correct horse battery"


def sha512_crypt(password):
    out = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                         input=password.encode(), capture_output=True,
                         check=True)
    return out.stdout.decode().strip()


def scram_field(password, iterations=4096):
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt,
                                 iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(client_key).digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(x):
        return base64.b64encode(x).decode()
    return "scram-sha-256=%d,%s,%s,%s" % (iterations, b64(salt), b64(stored),
                                          b64(server))


_HASH = None


def account(addr, password=PASSWORD, addresses=(), scram=True):
    """A users-file line in Dovecot passwd-file format."""
    global _HASH
    if password == PASSWORD:
        _HASH = _HASH or sha512_crypt(PASSWORD)
        h = _HASH
    else:
        h = sha512_crypt(password)
    extra = []
    if scram:
        extra.append(scram_field(password))
    if addresses:
        extra.append("addresses=" + ",".join(addresses))
    return "%s:%s::::::%s" % (addr, h, " ".join(extra))


USERS = [
    "demo@localhost",
    account("alice@example.test", addresses=("sales@example.test",)),
    account("bob@example.test", scram=False),
]

BASE_CONF = ("auth-fail-delay 0",)


@pytest.fixture
def srv(request, petrel_factory):
    m = request.node.get_closest_marker("petrel_conf")
    extra = list(m.args) if m else []
    extra += [b for b in BASE_CONF
              if not any(x.split()[0] == b.split()[0] for x in extra)]
    return petrel_factory(extra=extra, users=USERS)


def headers(raw):
    """name (lower-case) -> list of values, from a delivered message."""
    out = {}
    for k, v in parse_headers(raw):
        out.setdefault(k.lower(), []).append(v)
    return out


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def plain(user, password, authzid=""):
    return b64("%s\0%s\0%s" % (authzid, user, password))


def tls_session(srv, role="submission"):
    """An EHLO'd session inside TLS: STARTTLS on 587, implicit on 465."""
    if role == "submissions":
        c = srv.connect("submissions")
    else:
        c = srv.connect("submission")
        c.ehlo()
        c.starttls()
    c.ehlo()
    return c


def auth_plain(c, user="alice@example.test", password=PASSWORD):
    return c.cmd("AUTH PLAIN " + plain(user, password))


# ---- where AUTH exists ----

def test_auth_not_on_mx(srv):
    c = srv.connect()
    assert not any(x.startswith("AUTH") for x in c.extensions(c.ehlo()))
    r = auth_plain(c)
    assert r.code == 503 and r.esc == "5.5.1", r
    c.quit()


def test_auth_only_after_starttls(srv):
    c = srv.connect("submission")
    exts = c.extensions(c.ehlo())
    assert not any(x.startswith("AUTH") for x in exts), exts
    r = auth_plain(c)
    assert r.code == 538 and r.esc == "5.7.11", r
    r = c.cmd("MAIL FROM:<alice@example.test>")
    assert r.code == 530 and r.esc == "5.7.0", r
    c.starttls()
    exts = c.extensions(c.ehlo())
    assert "AUTH PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS" in exts, exts
    r = c.cmd("MAIL FROM:<alice@example.test>")
    assert r.code == 530 and r.esc == "5.7.0", r
    r = auth_plain(c)
    assert r.code == 235 and r.esc == "2.7.0", r
    # Not advertised again once authenticated.
    exts = c.extensions(c.ehlo())
    assert not any(x.startswith("AUTH") for x in exts), exts
    c.close()


def test_auth_on_submissions(srv):
    c = srv.connect("submissions")
    exts = c.extensions(c.ehlo())
    assert any(x.startswith("AUTH ") for x in exts), exts
    r = auth_plain(c)
    assert r.code == 235, r
    c.quit()


# ---- real clients ----

def swaks(srv, *args):
    cmd = ["swaks", "--server", "127.0.0.1", "--helo", "client.test",
           "--timeout", "60"] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
@pytest.mark.parametrize("role", ["submission", "submissions"])
def test_swaks_auth_delivers(srv, mech, role):
    tls = ["--tls"] if role == "submission" else ["--tls-on-connect"]
    p = swaks(srv, "--port", str(srv.ports[role]), *tls,
              "--auth", mech, "--auth-user", "alice@example.test",
              "--auth-password", PASSWORD, "--from", "alice@example.test",
              "--to", "bob@example.test",
              "--header", "Subject: swaks %s %s" % (mech, role))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "235 2.7.0" in p.stdout
    msgs = srv.wait_messages(1, domain="example.test", user="bob")
    h = headers(msgs[0])
    rcvd = h["received"][0]
    assert "with ESMTPSA" in rcvd, rcvd
    assert "authenticated user alice@example.test" in rcvd, rcvd


def test_swaks_wrong_password(srv):
    p = swaks(srv, "--port", str(srv.submission), "--tls", "--auth", "PLAIN",
              "--auth-user", "alice@example.test", "--auth-password", "nope",
              "--from", "alice@example.test", "--to", "bob@example.test")
    assert p.returncode != 0
    assert "535 5.7.8" in p.stdout, p.stdout
    srv.wait_log(r"auth failed client=127\.0\.0\.1 user=alice@example\.test "
                 r"mech=PLAIN reason=bad-credentials")


def test_smtplib_login_and_relay_is_queued(srv):
    s = smtplib.SMTP("127.0.0.1", srv.submission, timeout=60)
    s.starttls(context=client_tls_context())
    s.login("alice@example.test", PASSWORD)
    refused = s.sendmail("alice@example.test",
                         ["friend@remote.example", "bob@example.test"],
                         make_message(subject="relay",
                                      sender="alice@example.test",
                                      to="friend@remote.example"))
    assert refused == {}
    s.quit()
    wait_until(lambda: srv.count("example.test", "bob") == 1,
               what="local delivery")
    # The remote recipient waits in the queue for outbound delivery.
    assert any(not f.endswith(".st") for f in srv.queue_files()), \
        srv.queue_files()


def test_relay_denied_without_auth_on_mx(srv):
    c = srv.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<alice@example.test>").code == 250
    r = c.cmd("RCPT TO:<friend@remote.example>")
    assert r.code == 554 and r.esc == "5.7.1", r
    c.quit()


# ---- the exchange, byte by byte ----

def test_plain_without_initial_response(srv):
    c = tls_session(srv)
    r = c.cmd("AUTH PLAIN", esc=False)
    assert r.code == 334 and r.lines == [""], r
    r = c.cmd(plain("alice@example.test", PASSWORD))
    assert r.code == 235 and r.esc == "2.7.0", r
    c.quit()


def test_login_exchange(srv):
    c = tls_session(srv, "submissions")
    r = c.cmd("AUTH LOGIN", esc=False)
    assert r.code == 334 and base64.b64decode(r.text) == b"Username:", r
    r = c.cmd(b64("alice@example.test"), esc=False)
    assert r.code == 334 and base64.b64decode(r.text) == b"Password:", r
    r = c.cmd(b64(PASSWORD))
    assert r.code == 235, r
    c.quit()


def test_login_with_initial_response(srv):
    c = tls_session(srv)
    r = c.cmd("AUTH LOGIN " + b64("alice@example.test"), esc=False)
    assert r.code == 334 and base64.b64decode(r.text) == b"Password:", r
    assert c.cmd(b64(PASSWORD)).code == 235
    c.quit()


def test_user_without_domain_is_first_domain(srv):
    # "demo" has no password: it cannot log in at all.
    c = tls_session(srv)
    r = c.cmd("AUTH PLAIN " + plain("demo", "x"))
    assert r.code == 535, r
    c.quit()


def test_case_insensitive_user(srv):
    c = tls_session(srv)
    r = c.cmd("AUTH PLAIN " + plain("Alice@EXAMPLE.test", PASSWORD))
    assert r.code == 235, r
    assert c.cmd("MAIL FROM:<alice@example.test>").code == 250
    c.quit()


@pytest.mark.parametrize("line,code,esc", [
    ("*", 501, "5.0.0"),
    ("not base64!", 501, "5.5.2"),
    ("YWJj=", 501, "5.5.2"),
])
def test_bad_responses(srv, line, code, esc):
    c = tls_session(srv)
    assert c.cmd("AUTH PLAIN", esc=False).code == 334
    r = c.cmd(line)
    assert r.code == code and r.esc == esc, r
    # The session goes on.
    assert auth_plain(c).code == 235
    c.quit()


def test_empty_initial_response_is_invalid_plain(srv):
    c = tls_session(srv)
    r = c.cmd("AUTH PLAIN =")
    assert r.code == 501, r
    c.quit()


def test_unknown_mechanism(srv):
    c = tls_session(srv)
    r = c.cmd("AUTH CRAM-MD5")
    assert r.code == 504 and r.esc == "5.5.4", r
    r = c.cmd("AUTH")
    assert r.code == 501, r
    c.quit()


def test_second_auth_and_auth_in_transaction(srv):
    c = tls_session(srv)
    assert auth_plain(c).code == 235
    r = auth_plain(c)
    assert r.code == 503 and r.esc == "5.5.1", r
    c.quit()
    c = tls_session(srv)
    assert auth_plain(c).code == 235
    assert c.cmd("MAIL FROM:<alice@example.test>").code == 250
    c.close()


def test_authzid_must_match(srv):
    c = tls_session(srv)
    r = c.cmd("AUTH PLAIN " + plain("alice@example.test", PASSWORD,
                                    authzid="bob@example.test"))
    assert r.code == 535, r
    r = c.cmd("AUTH PLAIN " + plain("alice@example.test", PASSWORD,
                                    authzid="alice@example.test"))
    assert r.code == 235, r
    c.quit()


def test_unknown_user_fails_like_wrong_password(srv):
    c = tls_session(srv)
    r1 = c.cmd("AUTH PLAIN " + plain("nobody@example.test", PASSWORD))
    r2 = c.cmd("AUTH PLAIN " + plain("alice@example.test", "wrong"))
    assert (r1.code, r1.text) == (r2.code, r2.text) == \
        (535, "5.7.8 Authentication credentials invalid")
    c.close()


def test_password_never_logged(srv):
    c = tls_session(srv)
    auth_plain(c, password="wrong password here")
    auth_plain(c)
    c.quit()
    srv.wait_log("auth ok")
    assert "wrong password here" not in srv.log()
    assert PASSWORD not in srv.log()


# ---- brute force ----

def test_three_failures_close_the_session(srv):
    c = tls_session(srv)
    for _ in range(2):
        assert auth_plain(c, password="bad").code == 535
    r = auth_plain(c, password="bad")
    assert r.code == 535
    r = c.read_reply()
    assert r.code == 421 and r.esc == "4.7.0", r
    c.expect_closed()


@pytest.mark.petrel_conf("auth-fail-limit-ip 4")
def test_failures_per_client_address_lock(srv):
    for _ in range(2):
        c = tls_session(srv)
        assert auth_plain(c, password="bad").code == 535
        assert auth_plain(c, password="bad").code == 535
        c.close()
    c = tls_session(srv)
    # Locked: even the right password is not checked now.
    r = auth_plain(c)
    assert r.code == 454 and r.esc == "4.7.0", r
    c.close()
    srv.wait_log(r"auth lockout client=127\.0\.0\.1 failures=4")
    # Another client address is not affected.
    c = SMTPConn(srv.submissions, source="127.0.0.2", tls=True)
    c.ehlo()
    assert auth_plain(c).code == 235
    c.quit()


@pytest.mark.petrel_conf("auth-fail-limit-user 2")
def test_failures_per_account_lock(srv):
    for host in ("127.0.0.3", "127.0.0.4"):
        c = SMTPConn(srv.submissions, source=host, tls=True)
        c.ehlo()
        assert auth_plain(c, password="bad").code == 535
        c.close()
    c = SMTPConn(srv.submissions, source="127.0.0.5", tls=True)
    c.ehlo()
    r = auth_plain(c)
    assert r.code == 454, r
    # Another account from the same address still works.
    r = auth_plain(c, user="bob@example.test")
    assert r.code == 235, r
    c.quit()
    srv.wait_log(r"auth lockout user=alice@example\.test failures=2")


@pytest.mark.petrel_conf("auth-fail-delay 1s")
def test_failure_is_delayed(srv):
    c = tls_session(srv)
    t = time.monotonic()
    assert auth_plain(c, password="bad").code == 535
    assert time.monotonic() - t >= 0.9
    t = time.monotonic()
    assert auth_plain(c).code == 235
    c.quit()


# ---- senders ----

@pytest.mark.parametrize("sender,ok", [
    ("alice@example.test", True),
    ("ALICE@example.TEST", True),
    ("alice+news@example.test", True),
    ("sales@example.test", True),
    ("", True),
    ("bob@example.test", False),
    ("alice@remote.example", False),
])
def test_sender_must_be_owned(srv, sender, ok):
    c = tls_session(srv)
    assert auth_plain(c).code == 235
    r = c.cmd("MAIL FROM:<%s>" % sender)
    if ok:
        assert r.code == 250, r
    else:
        assert r.code == 553 and r.esc == "5.7.1", r
    c.quit()


@pytest.mark.petrel_conf("sender-check no")
def test_sender_check_off(srv):
    c = tls_session(srv)
    assert auth_plain(c).code == 235
    assert c.cmd("MAIL FROM:<bob@example.test>").code == 250
    c.quit()


# ---- RFC 6409 8 fixes and the trace header ----

def submit(srv, msg, rcpt="bob@example.test"):
    c = tls_session(srv)
    assert auth_plain(c).code == 235
    r = c.mail_transaction("alice@example.test", [rcpt], msg)
    queued_id(r)
    c.quit()
    return srv.wait_messages(1, domain="example.test", user="bob")[0]


def test_date_and_message_id_added(srv):
    raw = submit(srv, b"Subject: no date\r\nFrom: alice@example.test\r\n"
                      b"\r\nbody\r\n")
    h = headers(raw)
    assert len(h["date"]) == 1 and len(h["message-id"]) == 1, raw
    assert re.match(r"<[0-9A-Za-z]+@%s>$" % re.escape(HOSTNAME),
                    h["message-id"][0]), raw
    # Added at the end of the header section, before the body.
    head, body = raw.split(b"\n\n", 1)
    assert body == b"body\n", raw
    assert head.index(b"From:") < head.index(b"Date:"), raw


def test_date_and_message_id_kept(srv):
    raw = submit(srv, b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                      b"Message-ID: <mine@example.test>\r\n"
                      b"Subject: kept\r\n\r\nbody\r\n")
    h = headers(raw)
    assert h["date"] == ["Mon, 1 Jan 2024 00:00:00 +0000"], raw
    assert h["message-id"] == ["<mine@example.test>"], raw


def test_header_only_message_gets_fields(srv):
    raw = submit(srv, b"Subject: only a header\r\n")
    h = headers(raw)
    assert "date" in h and "message-id" in h, raw


def test_mx_message_not_changed(srv):
    c = srv.connect()
    c.ehlo()
    r = c.mail_transaction("someone@remote.example", ["bob@example.test"],
                           b"Subject: from outside\r\n\r\nbody\r\n")
    queued_id(r)
    c.quit()
    raw = srv.wait_messages(1, domain="example.test", user="bob")[0]
    h = headers(raw)
    assert "date" not in h and "message-id" not in h


@pytest.mark.petrel_conf("received-client no")
def test_received_without_client(srv):
    raw = submit(srv, b"Subject: private\r\n\r\nbody\r\n")
    rcvd = headers(raw)["received"][0]
    assert "127.0.0.1" not in rcvd and "client.test" not in rcvd, rcvd
    assert "ESMTPSA" in rcvd and "alice@example.test" in rcvd, rcvd


# ---- SCRAM-SHA-256 (RFC 5802, RFC 7677) ----

def scram_exchange(c, user, password, mech="SCRAM-SHA-256", cbind=None):
    sc = ScramClient(user, password, cbind=cbind)
    first = sc.client_first()
    r = c.cmd("AUTH %s %s" % (mech, b64(first)), esc=False)
    if r.code != 334:
        return r, None
    final = sc.client_final(base64.b64decode(r.text).decode())
    r = c.cmd(b64(final), esc=False)
    if r.code != 334:
        return r, None
    ok = sc.verify_server_final(base64.b64decode(r.text).decode())
    r = c.cmd("")
    return r, ok


def test_scram_sha256(srv):
    c = tls_session(srv)
    r, ok = scram_exchange(c, "alice@example.test", PASSWORD)
    assert r.code == 235 and r.esc == "2.7.0", r
    assert ok, "server signature did not verify"
    assert c.cmd("MAIL FROM:<alice@example.test>").code == 250
    c.quit()


def test_scram_wrong_password(srv):
    c = tls_session(srv)
    r, _ = scram_exchange(c, "alice@example.test", "wrong")
    assert r.code == 535 and r.esc == "5.7.8", r
    c.quit()


def test_scram_unknown_user_gets_a_salt(srv):
    c = tls_session(srv)
    r, _ = scram_exchange(c, "nobody@example.test", PASSWORD)
    assert r.code == 535, r
    c.quit()


def test_scram_account_without_keys(srv):
    # bob has only a crypt hash: SCRAM cannot work, PLAIN does.
    c = tls_session(srv)
    r, _ = scram_exchange(c, "bob@example.test", PASSWORD)
    assert r.code == 535, r
    assert auth_plain(c, user="bob@example.test").code == 235
    c.quit()


def test_scram_downgrade_flag_refused(srv):
    # "y": the client could bind but thinks we cannot; we offer -PLUS.
    c = tls_session(srv)
    first = "y,,n=alice@example.test,r=abcdefghijklmnop"
    r = c.cmd("AUTH SCRAM-SHA-256 " + b64(first))
    assert r.code == 535, r
    c.quit()


def test_scram_plus_with_tls_exporter(srv):
    """SCRAM-SHA-256-PLUS with the tls-exporter binding (RFC 9266). Python's
    ssl cannot export keying material, so openssl s_client carries the
    session and prints the exporter value."""
    p = subprocess.Popen(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.submissions,
         "-ign_eof", "-keymatexport", "EXPORTER-Channel-Binding",
         "-keymatexportlen", "32"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL)
    try:
        def line():
            ln = p.stdout.readline()
            assert ln, "s_client ended"
            return ln.decode().rstrip("\r\n")

        def send(s):
            p.stdin.write(s.encode() + b"\r\n")
            p.stdin.flush()

        def reply():
            # s_client mixes its own reports (session tickets) in.
            while True:
                ln = line()
                if re.match(r"^\d{3} ", ln):
                    return ln

        cb = None
        while cb is None:
            m = re.match(r"^\s+Keying material: ([0-9A-Fa-f]{64})$", line())
            if m:
                cb = bytes.fromhex(m.group(1))
        assert reply().startswith("220")
        send("EHLO client.test")
        reply()

        def exchange(data):
            sc = ScramClient("alice@example.test", PASSWORD, cbind=data)
            send("AUTH SCRAM-SHA-256-PLUS " + b64(sc.client_first()))
            r = reply()
            assert r.startswith("334 "), r
            send(b64(sc.client_final(base64.b64decode(r[4:]).decode())))
            r = reply()
            if not r.startswith("334 "):
                return r
            assert sc.verify_server_final(base64.b64decode(r[4:]).decode())
            send("")
            return reply()

        # Binding data of another connection (a man in the middle) fails.
        r = exchange(bytes(32))
        assert r.startswith("535 5.7.8"), r
        r = exchange(cb)
        assert r.startswith("235 2.7.0"), r
        send("QUIT")
        reply()
    finally:
        p.kill()
        p.wait()


# ---- accounts change while the server runs ----

def petrel_user(srv, *args, password=None):
    return subprocess.run([srv.bin, "user"] + list(args) +
                          ["--config", srv.conf_path],
                          input=(password + "\n") if password else "",
                          capture_output=True, text=True, timeout=120)


def test_user_added_can_log_in_at_once(srv):
    p = petrel_user(srv, "add", "carol@example.test", password="s3cret pw")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "reloaded" in p.stdout, p.stdout
    c = tls_session(srv)
    assert auth_plain(c, user="carol@example.test",
                      password="s3cret pw").code == 235
    c.quit()
    # SCRAM keys were stored beside the hash.
    c = tls_session(srv)
    r, ok = scram_exchange(c, "carol@example.test", "s3cret pw")
    assert r.code == 235 and ok, r
    c.quit()
    # A new password replaces the old one at once; deletion locks out.
    p = petrel_user(srv, "passwd", "carol@example.test", password="other")
    assert p.returncode == 0, p.stdout + p.stderr
    c = tls_session(srv)
    assert auth_plain(c, user="carol@example.test",
                      password="s3cret pw").code == 535
    assert auth_plain(c, user="carol@example.test",
                      password="other").code == 235
    c.quit()
    p = petrel_user(srv, "del", "carol@example.test")
    assert p.returncode == 0, p.stdout + p.stderr
    c = tls_session(srv)
    assert auth_plain(c, user="carol@example.test",
                      password="other").code == 535
    c.quit()


@pytest.mark.petrel_conf("auth-fail-limit-ip 3")
def test_parallel_guesses_count_before_they_finish(srv):
    """Checks still running count: ten connections guessing at once get at
    most three real checks (535); the rest are locked out (454)."""
    conns = [tls_session(srv, "submissions") for _ in range(10)]
    for c in conns:
        c.send("AUTH PLAIN " + plain("alice@example.test", "bad") + "\r\n")
    codes = sorted(c.read_reply().code for c in conns)
    for c in conns:
        c.close()
    assert codes.count(535) <= 3 and codes.count(454) >= 7, codes


def test_mail_auth_parameter(srv):
    # RFC 4954 5: AUTH= is accepted where AUTH is offered.
    c = tls_session(srv)
    assert auth_plain(c).code == 235
    r = c.cmd("MAIL FROM:<alice@example.test> AUTH=<>")
    assert r.code == 250, r
    c.cmd("RSET")
    r = c.cmd("MAIL FROM:<alice@example.test> AUTH=alice@example.test")
    assert r.code == 250, r
    c.quit()
