"""STARTTLS (RFC 3207), implicit TLS (RFC 8314) and listener roles
(RFC 6409, RFC 4954)."""
import re
import smtplib
import socket
import ssl
import warnings

import pytest

from conftest import (SMTPClosed, client_tls_context, dot_stuff, make_message,
                      parse_headers, queued_id)


def received(raw):
    return [v for k, v in parse_headers(raw) if k == "Received"][0]


def test_starttls_smtplib_delivery(petrel):
    with smtplib.SMTP("127.0.0.1", petrel.mx, timeout=60) as s:
        s.ehlo("client.test")
        assert s.has_extn("starttls")
        code, _ = s.starttls(context=client_tls_context())
        assert code == 220
        s.ehlo("client.test")
        assert not s.has_extn("starttls")
        refused = s.sendmail("sender@example.org", ["demo@localhost"],
                             make_message(subject="over tls"))
        assert refused == {}
    raw = petrel.wait_messages(1)[0]
    rec = received(raw)
    assert re.search(r"\bwith ESMTPS\b", rec), rec
    assert re.search(r"TLSv1\.[23]", rec), rec
    assert re.search(r"cipher=\S+", rec) or re.search(r"TLS_\w+|ECDHE\S+", rec), rec


def test_starttls_raw_and_queue_id(petrel):
    c = petrel.connect()
    c.ehlo()
    c.starttls()
    c.ehlo()
    r = c.mail_transaction("s@example.org", ["demo@localhost"],
                           dot_stuff(make_message(subject="raw tls")))
    qid = queued_id(r)
    c.close()  # QUIT after STARTTLS: see test_quit_after_starttls
    raw = petrel.wait_messages(1)[0]
    rec = received(raw)
    assert "id %s" % qid in rec, rec
    assert "with ESMTPS" in rec, rec


def test_starttls_injection_discarded(shared_petrel):
    """CVE-2011-0411: plaintext pipelined after STARTTLS is not executed."""
    c = shared_petrel.connect()
    c.ehlo()
    c.send(b"STARTTLS\r\nRSET\r\n")
    r = c.read_reply()
    assert r.code == 220, r
    assert c.buf == b"", "plaintext after the 220: %r" % c.buf
    c.sock = client_tls_context().wrap_socket(c.sock)
    c.send(b"EHLO client.test\r\n")
    r = c.read_reply(esc=False)
    # The first reply inside TLS is the EHLO reply, not RSET's 250 2.0.0.
    assert r.code == 250 and len(r.lines) > 1, r
    assert r.lines[0].startswith("mx.test"), r
    assert c.cmd("NOOP").code == 250
    c.close()  # QUIT after STARTTLS: see test_quit_after_starttls


def test_starttls_injection_mail_not_executed(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    c.send(b"STARTTLS\r\nMAIL FROM:<evil@x.test>\r\n")
    assert c.read_reply().code == 220
    assert c.buf == b""
    c.sock = client_tls_context().wrap_socket(c.sock)
    c.ehlo()
    # No transaction was opened by the injected MAIL.
    r = c.cmd("RCPT TO:<demo@localhost>")
    assert r.code == 503, r
    c.close()  # QUIT after STARTTLS: see test_quit_after_starttls


def test_quit_after_starttls(shared_petrel):
    """QUIT inside a STARTTLS session is answered 221 before the close."""
    c = shared_petrel.connect()
    c.ehlo()
    c.starttls()
    c.ehlo()
    r = c.cmd("QUIT")
    assert r.code == 221 and r.esc == "2.0.0", r
    c.expect_closed()
    c.close()


def test_quit_on_implicit_tls(shared_petrel):
    c = shared_petrel.connect("submissions")
    c.ehlo()
    c.quit()


def test_starttls_requires_new_ehlo(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    c.starttls()
    r = c.cmd("MAIL FROM:<s@example.org>")
    assert r.code == 503, r
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    c.close()  # QUIT after STARTTLS: see test_quit_after_starttls


def test_starttls_resets_transaction(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    c.starttls()
    c.ehlo()
    r = c.cmd("RCPT TO:<demo@localhost>")
    assert r.code == 503, r
    c.close()  # QUIT after STARTTLS: see test_quit_after_starttls


def test_starttls_not_advertised_after_tls(shared_petrel):
    c = shared_petrel.connect()
    assert "STARTTLS" in c.extensions(c.ehlo())
    c.starttls()
    ext = c.extensions(c.ehlo())
    assert "STARTTLS" not in ext, ext
    r = c.cmd("STARTTLS")
    assert r.code in (503, 554), r
    c.close()  # QUIT after STARTTLS: see test_quit_after_starttls


def test_implicit_tls_465(shared_petrel):
    c = shared_petrel.connect("submissions")
    assert c.greeting.code == 220
    assert c.greeting.lines[0].startswith("mx.test")
    r = c.ehlo()
    ext = c.extensions(r)
    assert "STARTTLS" not in ext, ext
    assert "PIPELINING" in ext
    assert isinstance(c.sock, ssl.SSLSocket)
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    c.quit()


def old_tls_context():
    warnings.simplefilter("ignore", DeprecationWarning)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as e:
        pytest.skip("local OpenSSL cannot offer TLS 1.1: %s" % e)
    return ctx


def tls11_handshake(sock):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            s = old_tls_context().wrap_socket(sock)
    except ssl.SSLError as e:
        if "NO_PROTOCOLS_AVAILABLE" in str(e) or "no protocols" in str(e):
            pytest.skip("local OpenSSL refuses to offer TLS < 1.2: %s" % e)
        # The server must be the one saying no.
        assert re.search(r"PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|"
                         r"WRONG_VERSION|EOF|RESET", str(e).upper()), e
        return e
    except (ConnectionResetError, BrokenPipeError) as e:
        return e
    v = s.version()
    s.close()
    pytest.fail("TLS handshake with max TLS 1.1 succeeded (%s)" % v)


def test_tls_below_1_2_refused_465(shared_petrel):
    sock = socket.create_connection(("127.0.0.1", shared_petrel.submissions),
                                    timeout=60)
    tls11_handshake(sock)
    sock.close()


def test_tls_below_1_2_refused_starttls(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    r = c.cmd("STARTTLS")
    assert r.code == 220
    tls11_handshake(c.sock)
    c.close()
    # The server survived and serves the next client.
    c = shared_petrel.connect()
    c.ehlo()
    c.quit()


def test_tls_garbage_handshake_survives(shared_petrel):
    """Plain text on the implicit-TLS port does not hurt the server."""
    s = socket.create_connection(("127.0.0.1", shared_petrel.submissions),
                                 timeout=60)
    s.sendall(b"EHLO plain.test\r\n" * 10)
    try:
        while s.recv(4096):
            pass
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    c = shared_petrel.connect("submissions")
    c.ehlo()
    c.quit()


# ---- roles ----

def test_submission_mail_requires_auth(shared_petrel):
    c = shared_petrel.connect("submission")
    c.ehlo()
    r = c.cmd("MAIL FROM:<demo@localhost>")
    assert r.code == 530 and r.esc == "5.7.0", r
    c.starttls()
    c.ehlo()
    r = c.cmd("MAIL FROM:<demo@localhost>")
    assert r.code == 530 and r.esc == "5.7.0", r
    c.close()  # QUIT after STARTTLS: see test_quit_after_starttls


def test_submissions_mail_requires_auth(shared_petrel):
    c = shared_petrel.connect("submissions")
    c.ehlo()
    r = c.cmd("MAIL FROM:<demo@localhost>")
    assert r.code == 530 and r.esc == "5.7.0", r
    c.quit()


def test_auth_on_mx_503(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    r = c.cmd("AUTH PLAIN AGRlbW8AcGFzcw==")
    assert r.code == 503, r
    c.quit()


def test_auth_on_submission_before_starttls(shared_petrel):
    c = shared_petrel.connect("submission")
    c.ehlo()
    r = c.cmd("AUTH PLAIN AGRlbW8AcGFzcw==")
    assert r.code in (538, 530), r
    c.quit()


def test_submission_advertises_starttls(shared_petrel):
    c = shared_petrel.connect("submission")
    assert "STARTTLS" in c.extensions(c.ehlo())
    c.quit()


@pytest.mark.petrel_conf("timeout-command 2s")
def test_idle_timeout_421_after_starttls(petrel):
    c = petrel.connect()
    c.ehlo()
    c.starttls()
    c.ehlo()
    r = c.read_reply()
    assert r.code == 421 and r.esc == "4.4.2", r
    c.expect_closed()
    c.close()


@pytest.mark.petrel_conf("timeout-command 2s")
def test_idle_timeout_421_implicit_tls(petrel):
    c = petrel.connect("submissions")
    c.ehlo()
    r = c.read_reply()
    assert r.code == 421 and r.esc == "4.4.2", r
    c.expect_closed()
    c.close()


@pytest.mark.petrel_conf("max-errors 3")
def test_too_many_errors_after_starttls(petrel):
    c = petrel.connect()
    c.ehlo()
    c.starttls()
    c.ehlo()
    c.send(b"BOGUS1\r\nBOGUS2\r\nBOGUS3\r\n")
    codes = []
    try:
        while True:
            codes.append(c.read_reply().code)
    except SMTPClosed:
        pass
    # Every command is answered, and the 421 arrives before the close.
    assert codes[:3] == [500, 500, 500] and codes[-1] == 421, codes
    c.close()
