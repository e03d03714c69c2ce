"""REQUIRETLS (RFC 8689) on the receiving side: the EHLO keyword only on a
TLS session, the MAIL FROM parameter accepted only there, its tag kept in
the queue (`petrel queue show`) and harmless for local delivery.

The outbound half (relaying only over DANE or MTA-STS to servers that offer
REQUIRETLS) is tested with the test network elsewhere; here a remote
recipient only has to stay queued, which the hermetic default DNS
configuration of conftest.py guarantees (lookups fail, delivery defers).
"""
import re
import smtplib
import subprocess

import pytest

from conftest import (DEFAULT_ALIASES, client_tls_context, dot_stuff,
                      make_message, queued_id, wait_until)

REMOTE = "someone@remote.example"
ALIASES = DEFAULT_ALIASES + ["fwd@example.test: %s" % REMOTE]


def ehlo_keywords(s):
    """The EHLO keywords smtplib saw, upper-case."""
    return {k.upper() for k in s.esmtp_features}


def show(srv, qid):
    r = subprocess.run([srv.bin, "queue", "show", qid, "--config",
                        srv.conf_path], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout


def field(out, name):
    m = re.search(r"^%s: (.*)$" % re.escape(name), out, re.M)
    assert m, "no %s: line in %r" % (name, out)
    return m.group(1)


def tls_conn(srv, role="mx"):
    """A raw session after EHLO, STARTTLS, EHLO (or implicit TLS)."""
    c = srv.connect(role)
    c.ehlo()
    if role != "submissions":
        c.starttls()
        c.ehlo()
    return c


# ---- the EHLO keyword (RFC 8689 2, 4.1) ----

def test_ehlo_lists_requiretls_only_over_tls(shared_petrel):
    with smtplib.SMTP("127.0.0.1", shared_petrel.mx, timeout=60) as s:
        s.ehlo("client.test")
        assert "STARTTLS" in ehlo_keywords(s)
        assert "REQUIRETLS" not in ehlo_keywords(s), s.esmtp_features
        code, _ = s.starttls(context=client_tls_context())
        assert code == 220
        s.ehlo("client.test")
        assert "REQUIRETLS" in ehlo_keywords(s), s.esmtp_features
        assert s.esmtp_features["requiretls"] == ""  # no parameters


def test_ehlo_raw_plain_and_implicit_tls(shared_petrel):
    c = shared_petrel.connect()
    r = c.ehlo()
    assert "REQUIRETLS" not in c.extensions(r), r
    r = c.cmd("HELO client.test")
    assert r.code == 250, r
    c.quit()
    # Implicit TLS (RFC 8314): the session is protected from the start.
    c = shared_petrel.connect("submissions")
    r = c.ehlo()
    assert "REQUIRETLS" in c.extensions(r), r
    c.close()


# ---- the MAIL FROM parameter ----

def test_mail_requiretls_refused_in_plaintext(shared_petrel):
    """Sent where it was not offered, REQUIRETLS is refused with RFC 3207's
    reply for a command that needs TLS; the session goes on."""
    c = shared_petrel.connect()
    c.ehlo()
    r = c.cmd("MAIL FROM:<sender@example.org> REQUIRETLS")
    assert r.code == 530 and r.esc == "5.7.0", r
    assert "STARTTLS" in r.text, r
    r = c.cmd("MAIL FROM:<sender@example.org> SIZE=10 requiretls")
    assert r.code == 530, r
    # The refusal started no transaction.
    r = c.cmd("RCPT TO:<demo@localhost>")
    assert r.code == 503, r
    r = c.cmd("MAIL FROM:<sender@example.org>")
    assert r.code == 250, r
    c.quit()
    assert shared_petrel.wait_log(r"reason=requiretls-without-tls")


def test_mail_requiretls_syntax_over_tls(shared_petrel):
    c = tls_conn(shared_petrel)
    for args, code in (("REQUIRETLS REQUIRETLS", 501),
                       ("REQUIRETLS requiretls", 501),
                       ("REQUIRETLS=YES", 501),
                       ("REQUIRETLS=", 501)):
        r = c.cmd("MAIL FROM:<sender@example.org> %s" % args)
        assert r.code == code and r.esc == "5.5.4", (args, r)
    r = c.cmd("MAIL FROM:<sender@example.org> REQUIRETLS")
    assert r.code == 250, r
    r = c.cmd("RSET")
    assert r.code == 250, r
    # RCPT has no REQUIRETLS parameter.
    r = c.cmd("MAIL FROM:<sender@example.org>")
    assert r.code == 250, r
    r = c.cmd("RCPT TO:<demo@localhost> REQUIRETLS")
    assert r.code == 555, r
    c.close()  # QUIT after STARTTLS: see test_tls.py


# ---- the queue and local delivery ----

@pytest.fixture
def rsrv(petrel_factory):
    """A petrel whose alias fwd@example.test points to a remote address,
    which stays queued (no DNS in these tests)."""
    return petrel_factory(aliases=ALIASES)


def send_tls(srv, rcpts, requiretls, subject="requiretls"):
    c = tls_conn(srv)
    r = c.cmd("MAIL FROM:<sender@example.org>%s" %
              (" REQUIRETLS" if requiretls else ""))
    assert r.code == 250, r
    for rc in rcpts:
        r = c.cmd("RCPT TO:<%s>" % rc)
        assert r.code == 250, r
    r = c.cmd("DATA")
    assert r.code == 354, r
    c.send(dot_stuff(make_message(subject=subject, to=rcpts[0])) + b".\r\n")
    qid = queued_id(c.read_reply())
    c.close()
    return qid


def test_requiretls_recorded_in_queue(rsrv):
    qid = send_tls(rsrv, ["fwd@example.test", "demo@localhost"], True)
    other = send_tls(rsrv, ["fwd@example.test"], False, subject="plain")
    # The local copy arrives; the remote one waits in the queue.
    wait_until(lambda: rsrv.count() >= 1, what="the local copy")
    out = show(rsrv, qid)
    assert field(out, "requiretls") == "yes", out
    assert field(out, "protocol") == "ESMTPS", out
    assert REMOTE in out, out
    assert field(show(rsrv, other), "requiretls") == "no"
    assert rsrv.wait_log(r"qid=%s .*requiretls=yes" % qid)
    # It survives a restart: the tag is in the envelope on disk.
    rsrv.restart()
    assert field(show(rsrv, qid), "requiretls") == "yes"


def test_requiretls_local_delivery(rsrv):
    """RFC 8689 4.4 asks nothing special of the delivery into a mailbox:
    a REQUIRETLS message to a local user is delivered as usual."""
    send_tls(rsrv, ["demo@localhost"], True, subject="secret")
    raw = rsrv.wait_messages(1)[0]
    assert b"Subject: secret" in raw
    assert re.search(rb"with ESMTPS", raw), raw[:400]
    rsrv.wait_queue_empty()


def test_requiretls_with_smtplib(rsrv):
    with smtplib.SMTP("127.0.0.1", rsrv.mx, timeout=60) as s:
        s.ehlo("client.test")
        s.starttls(context=client_tls_context())
        s.ehlo("client.test")
        refused = s.sendmail("sender@example.org", ["demo@localhost"],
                             make_message(subject="via smtplib"),
                             mail_options=["REQUIRETLS"])
        assert refused == {}
    rsrv.wait_messages(1)
