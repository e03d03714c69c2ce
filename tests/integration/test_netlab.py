"""
Self-tests of netlab.py, the test network for outbound delivery: NSD with
signed/unsigned/bogus zones (checked with dig, unbound-host, delv and a
small libunbound program configured exactly like petrel_conf()), the
scriptable SmtpPeer (with swaks and raw sockets, including every hostile
mode), the openssl TestCA, and a private Postfix. None of this needs
petrel itself.
"""
import base64
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

pytest.register_assert_rewrite("netlab")
from netlab import (  # noqa: E402
                    ADDRS, STS_ADDRS, STS_PATH, SilentDns, SmtpSink, TestCA,
                    by_address, endless, first_pem, free_port, garbage,
                    inject, long_line, reply_close, smtp_port, stall,
                    sts_policy)

# The fixtures (dns, netlab_dir, netlab_port, test_ca, smtp_peer,
# postfix_peer, ...) come from netlab.py, loaded as a plugin.
pytest_plugins = ["netlab"]

IO = 10.0


def need(tool):
    if not shutil.which(tool):
        pytest.skip("%s not installed" % tool)


def sh(cmd, timeout=60, check=True):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, text=True)
    if check:
        assert r.returncode == 0, "%s: %s%s" % (cmd, r.stdout, r.stderr)
    return r


# --------------------------------------------------------------------------
# raw SMTP client helpers
# --------------------------------------------------------------------------

class Raw:
    """A bounded raw client: every read has a deadline."""

    def __init__(self, addr, port, tls=False):
        self.s = socket.create_connection((addr, port), timeout=IO)
        if tls:
            self.s = client_ctx().wrap_socket(self.s)
        self.buf = b""

    def reply(self, limit=1 << 20):
        """One whole reply (all lines), as bytes."""
        out = b""
        while True:
            while b"\n" not in self.buf:
                d = self.s.recv(65536)
                if not d:
                    raise EOFError(out + self.buf)
                self.buf += d
                assert len(self.buf) < limit, "reply line too long"
            i = self.buf.index(b"\n") + 1
            ln, self.buf = self.buf[:i], self.buf[i:]
            out += ln
            if ln[3:4] != b"-":
                return out

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\r\n")
        return self.reply()

    def read_all(self, limit):
        """Reads until EOF or limit bytes; returns the byte count."""
        n = len(self.buf)
        self.buf = b""
        while n < limit:
            d = self.s.recv(1 << 16)
            if not d:
                break
            n += len(d)
        return n

    def close(self):
        self.s.close()


def client_ctx(cafile=None, hostname=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def swaks(port, addr, *args, to="rcpt@x.test", frm="sender@y.test"):
    need("swaks")
    return sh(["swaks", "-s", addr, "-p", str(port), "-t", to, "-f", frm,
               "--timeout", "20"] + list(args))


# --------------------------------------------------------------------------
# DNS
# --------------------------------------------------------------------------

def dig(dns, name, qtype, *opts):
    need("dig")
    return sh(["dig", "@%s" % dns.addr, "-p", str(dns.port), "+norec",
               "+short", "+time=2", "+tries=2"] + list(opts) +
              [name, qtype]).stdout.split("\n")


def test_dns_records_served(dns):
    with dns.batch():
        dns.zone("sec.test")
        dns.mx("sec.test", "mx1.sec.test", (20, "mx2.test"))
        dns.a("mx1.sec.test", "127.0.25.1")
        dns.aaaa("mx1.sec.test", "::1")
        dns.a("mx2.test", "127.0.25.2")
        dns.tlsa("_25._tcp.mx1.sec.test", "3 1 1 " + "ab" * 32)
        dns.txt("_mta-sts.sec.test", "v=STSv1; id=20240101")
        dns.cname("alias.test", "mx2.test")
        dns.mx("null.test", ".")
    assert sorted(dig(dns, "sec.test", "MX")[:2]) == [
        "10 mx1.sec.test.", "20 mx2.test."]
    assert dig(dns, "mx1.sec.test", "A")[0] == "127.0.25.1"
    assert dig(dns, "mx1.sec.test", "AAAA")[0] == "::1"
    assert dig(dns, "mx2.test", "A")[0] == "127.0.25.2"
    assert dig(dns, "_25._tcp.mx1.sec.test", "TLSA")[0].replace(
        " ", "").lower() == "311" + "ab" * 32
    assert dig(dns, "_mta-sts.sec.test", "TXT")[0] == \
        '"v=STSv1; id=20240101"'
    assert dig(dns, "alias.test", "CNAME")[0] == "mx2.test."
    assert dig(dns, "null.test", "MX")[0] == "0 ."
    # the stub client, over UDP and TCP
    assert dns.query("mx2.test", "A") == (0, [(1, "127.0.25.2")])
    assert dns.query("sec.test", "MX", tcp=True)[1][0][0] == 15
    # removing a record and a reset are served at once
    dns.remove("mx2.test", "A")
    assert dns.query("mx2.test", "A") == (3, [])     # NXDOMAIN now
    dns.reset()
    assert dns.query("sec.test", "MX")[0] == 3   # NXDOMAIN


def test_dns_change_without_new_zone_is_a_reload(dns):
    dns.a("h.test", "127.0.25.3")
    pid = dns.proc.pid
    dns.a("h.test", "127.0.25.4")
    assert dns.proc.pid == pid
    assert sorted(v for _, v in dns.query("h.test", "A")[1]) == [
        "127.0.25.3", "127.0.25.4"]


def test_dns_stop_start(dns):
    dns.a("h.test", "127.0.25.3")
    dns.stop()
    with pytest.raises(OSError):
        dns.query("h.test", "A")
    t = time.monotonic()
    dns.start()
    assert time.monotonic() - t < 5
    assert dns.query("h.test", "A") == (0, [(1, "127.0.25.3")])


def secure_world(dns):
    with dns.batch():
        for z, mode in (("sec", "secure"), ("ins", "insecure"),
                        ("bog", "bogus"), ("exp", "expired")):
            dns.zone("%s.test" % z, mode)
            dns.mx("%s.test" % z, "mx.%s.test" % z)
            dns.a("mx.%s.test" % z, "127.0.25.1")
        dns.mx("intest.test", "mx.intest.test")
        dns.a("mx.intest.test", "127.0.25.2")


def test_dnssec_unbound_host(dns):
    need("unbound-host")
    secure_world(dns)
    conf = dns.unbound_conf()

    def uh(name, t="MX"):
        return sh(["unbound-host", "-C", conf, "-v", "-t", t, name],
                  timeout=30).stdout
    assert "(secure)" in uh("sec.test")
    assert "(secure)" in uh("mx.sec.test", "A")
    assert "(secure)" in uh("intest.test")
    assert "(insecure)" in uh("ins.test")
    assert "BOGUS" in uh("bog.test")
    assert "BOGUS" in uh("mx.bog.test", "A")
    assert "BOGUS" in uh("exp.test")
    assert "(secure)" in uh("nothere.sec.test")   # NXDOMAIN, proven
    assert "NXDOMAIN" in uh("nothere.sec.test")


def test_dnssec_delv(dns, netlab_dir):
    need("delv")
    secure_world(dns)
    ds = open(dns.trust_anchor).read().split()
    anchors = os.path.join(netlab_dir, "anchors.conf")
    with open(anchors, "w") as f:
        f.write('trust-anchors {\n  test. static-ds %s %s %s "%s";\n};\n'
                % tuple(ds[-4:]))

    def delv(name):
        r = sh(["delv", "@%s" % dns.addr, "-p", str(dns.port), "-a",
                anchors, "+root=test.", name, "MX"], check=False)
        return r.stdout + r.stderr
    assert "; fully validated" in delv("sec.test")
    assert "; fully validated" in delv("intest.test")
    assert "; unsigned answer" in delv("ins.test")
    out = delv("bog.test")
    assert "fully validated" not in out and "failed" in out
    out = delv("exp.test")
    assert "fully validated" not in out and "failed" in out


# A resolver configured the way petrel's remote process configures
# libunbound from the configuration: ub_ctx_set_fwd(each dns-resolver
# value), ub_ctx_add_ta_file(dns-trust-anchor), ub_ctx_set_option("NAME:",
# VALUE) for each dns-option.
UB_PROG = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>
int main(int argc, char **argv) {
	struct ub_ctx *ctx = ub_ctx_create();
	struct ub_result *r;
	char opt[128];
	int i, rc;
	/* argv: fwd ta name type [option value]... */
	if (ctx == NULL || argc < 5) return 2;
	if ((rc = ub_ctx_set_fwd(ctx, argv[1])) != 0 ||
	    (rc = ub_ctx_add_ta_file(ctx, argv[2])) != 0) {
		printf("setup %s\n", ub_strerror(rc)); return 2;
	}
	for (i = 5; i + 1 < argc; i += 2) {
		snprintf(opt, sizeof(opt), "%s:", argv[i]);
		if ((rc = ub_ctx_set_option(ctx, opt, argv[i + 1])) != 0) {
			printf("option %s %s\n", opt, ub_strerror(rc)); return 2;
		}
	}
	rc = ub_resolve(ctx, argv[3], atoi(argv[4]), 1, &r);
	if (rc != 0) { printf("error %s\n", ub_strerror(rc)); return 0; }
	printf("rcode=%d havedata=%d secure=%d bogus=%d why=%s\n", r->rcode,
	    r->havedata, r->secure, r->bogus, r->why_bogus ? r->why_bogus : "");
	ub_resolve_free(r);
	ub_ctx_delete(ctx);
	return 0;
}
"""


@pytest.fixture(scope="module")
def ubprog(netlab_dir):
    if not shutil.which("cc") or not os.path.exists(
            "/usr/include/unbound.h"):
        pytest.skip("cc or libunbound-dev not installed")
    src = os.path.join(netlab_dir, "ubq.c")
    exe = os.path.join(netlab_dir, "ubq")
    with open(src, "w") as f:
        f.write(UB_PROG)
    sh(["cc", "-o", exe, src, "-lunbound"])
    return exe


def petrel_like_lookup(ubprog, conf_lines, name, qtype, timeout=60):
    """Runs the libunbound program with the petrel configuration lines."""
    import shlex
    fwd, ta, opts = None, None, []
    for ln in conf_lines:
        w = shlex.split(ln)
        if w[0] == "dns-resolver":
            fwd = w[1]
        elif w[0] == "dns-trust-anchor":
            ta = w[1]
        elif w[0] == "dns-option":
            opts += w[1:3]
    t = time.monotonic()
    out = sh([ubprog, fwd, ta, name, str({"MX": 15, "A": 1, "TXT": 16,
                                          "TLSA": 52}[qtype])] + opts,
             timeout=timeout).stdout
    return out, time.monotonic() - t


def test_petrel_conf_with_libunbound(dns, ubprog):
    secure_world(dns)
    conf = dns.petrel_conf()
    assert conf[0] == "dns-resolver %s@%d" % (dns.addr, dns.port)
    assert conf[1] == "dns-trust-anchor %s" % dns.trust_anchor
    assert 'dns-option local-zone "test. transparent"' in conf
    out, _ = petrel_like_lookup(ubprog, conf, "sec.test", "MX")
    assert "rcode=0 havedata=1 secure=1 bogus=0" in out, out
    out, _ = petrel_like_lookup(ubprog, conf, "mx.intest.test", "A")
    assert "rcode=0 havedata=1 secure=1 bogus=0" in out, out
    out, _ = petrel_like_lookup(ubprog, conf, "ins.test", "MX")
    assert "rcode=0 havedata=1 secure=0 bogus=0" in out, out
    # libunbound hands out bogus data with rcode 0: only r->bogus says so
    out, _ = petrel_like_lookup(ubprog, conf, "bog.test", "MX")
    assert "secure=0 bogus=1" in out and "signature" in out, out
    out, _ = petrel_like_lookup(ubprog, conf, "exp.test", "MX")
    assert "bogus=1" in out and "expired" in out, out
    # without the local-zone option unbound's built-in test. zone answers
    out, _ = petrel_like_lookup(ubprog, conf[:2], "sec.test", "MX")
    assert "rcode=3" in out, out


def test_dead_and_silent_dns_fail_fast(dns, ubprog):
    dns.mx("sec.test", "mx.test")
    out, secs = petrel_like_lookup(ubprog, dns.dead_dns_conf(), "sec.test",
                                   "MX")
    assert "rcode=2 havedata=0" in out, out          # SERVFAIL
    assert secs < 30
    silent = SilentDns()
    try:
        out, secs = petrel_like_lookup(
            ubprog, silent.petrel_conf(dns.trust_anchor), "sec.test", "MX")
        assert "rcode=2 havedata=0" in out, out
        assert silent.queries > 0
        assert secs < 60
    finally:
        silent.stop()
    # the running server, stopped: same as dead
    dns.stop()
    out, _ = petrel_like_lookup(ubprog, dns.petrel_conf(), "sec.test", "MX")
    assert "rcode=2 havedata=0" in out, out


# --------------------------------------------------------------------------
# TestCA
# --------------------------------------------------------------------------

def test_ca_certificates(test_ca, netlab_dir):
    cert, key = test_ca.leaf(["mx1.x.test", "mx2.x.test"])
    r = sh(["openssl", "verify", "-CAfile", test_ca.ca_file,
            "-verify_hostname", "mx2.x.test", cert])
    assert ": OK" in r.stdout
    r = sh(["openssl", "verify", "-CAfile", test_ca.ca_file,
            "-verify_hostname", "other.x.test", cert], check=False)
    assert r.returncode != 0 and "hostname mismatch" in r.stdout + r.stderr
    exp, _ = test_ca.leaf("mx1.x.test", expired=True)
    r = sh(["openssl", "verify", "-CAfile", test_ca.ca_file, exp],
           check=False)
    assert r.returncode != 0 and "expired" in r.stdout + r.stderr
    ss, _ = test_ca.self_signed("mx1.x.test")
    r = sh(["openssl", "verify", "-CAfile", test_ca.ca_file, ss],
           check=False)
    assert r.returncode != 0
    # the key matches the certificate
    a = sh(["openssl", "x509", "-noout", "-pubkey", "-in", cert]).stdout
    b = sh(["openssl", "pkey", "-pubout", "-in", key]).stdout
    assert a == b
    # TLSA data: 3 1 1 is the SHA-256 of the SPKI, 2 0 1 of the CA cert
    t = TestCA.tlsa(cert)
    assert t.startswith("3 1 1 ") and len(t.split()[3]) == 64
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                         input=a.encode(), stdout=subprocess.PIPE,
                         check=True).stdout
    import hashlib
    assert t.split()[3] == hashlib.sha256(der).hexdigest()
    t2 = TestCA.tlsa(test_ca.ca_file, 2, 0, 1)
    assert t2.startswith("2 0 1 ")


# --------------------------------------------------------------------------
# SmtpPeer
# --------------------------------------------------------------------------

def test_peer_plain_swaks(smtp_peer, netlab_port):
    p = smtp_peer(ADDRS[0])
    swaks(netlab_port, ADDRS[0], "--ehlo", "client.test", "--pipeline",
          to="a@x.test,b@x.test")
    m, = p.wait_for_messages(1)
    s = m.session
    assert s.ehlo == "client.test" and not s.tls and s.quit
    assert m.mail_from == "sender@y.test"
    assert m.mail == "MAIL FROM:<sender@y.test>"
    assert m.recipients == ["a@x.test", "b@x.test"]
    assert [r.reply for r in m.rcpts] == ["250 2.1.5 Ok"] * 2
    assert m.data.startswith(b"Date: ") and m.data.endswith(b"\r\n")
    assert m.reply.startswith("250 2.0.0 Ok: queued as ")


def test_peer_starttls_auth_swaks(smtp_peer, netlab_port, test_ca):
    cert, key = test_ca.leaf("mx1.x.test")
    p = smtp_peer(ADDRS[1], cert=cert, key=key, auth={"u1": "pw 1"},
                  require_auth=True)
    swaks(netlab_port, ADDRS[1], "--tls", "--tls-verify", "--tls-ca-path",
          test_ca.ca_file, "--tls-sni", "mx1.x.test", "-a", "LOGIN", "-au",
          "u1", "-ap", "pw 1")
    m, = p.wait_for_messages(1)
    s = m.session
    assert s.tls and s.tls_version in ("TLSv1.2", "TLSv1.3")
    assert s.tls_cipher and s.sni == "mx1.x.test"
    assert (s.auth_mechanism, s.auth_user, s.auth_password, s.auth_ok) == \
        ("LOGIN", "u1", "pw 1", True)
    assert len(s.ehlos) == 2          # before and after STARTTLS
    # AUTH is not offered before TLS; a wrong password gets 535
    r = Raw(ADDRS[1], netlab_port)
    r.reply()
    assert b"AUTH" not in r.cmd("EHLO x") and b"STARTTLS" in r.cmd("EHLO x")
    assert r.cmd("MAIL FROM:<a@b>").startswith(b"530")
    r.close()
    with pytest.raises(AssertionError):
        swaks(netlab_port, ADDRS[1], "--tls", "-a", "PLAIN", "-au", "u1",
              "-ap", "bad")
    assert p.sessions[-1].auth_ok is False


def test_peer_implicit_tls(smtp_peer, netlab_port, test_ca):
    cert, key = test_ca.leaf("smart.test")
    p = smtp_peer(ADDRS[2], cert=cert, key=key, implicit_tls=True,
                  auth={"me": "secret"})
    r = Raw(ADDRS[2], netlab_port, tls=True)
    assert r.reply().startswith(b"220 ")
    ehlo = r.cmd("EHLO c.test")
    assert b"AUTH PLAIN LOGIN" in ehlo and b"STARTTLS" not in ehlo
    tok = base64.b64encode(b"\0me\0secret").decode()
    assert r.cmd("AUTH PLAIN " + tok).startswith(b"235 ")
    assert r.cmd("MAIL FROM:<>").startswith(b"250")
    assert r.cmd("RCPT TO:<x@y.test>").startswith(b"250")
    assert r.cmd("DATA").startswith(b"354")
    assert r.cmd("Subject: t\r\n\r\nhi\r\n.").startswith(b"250")
    r.close()
    m, = p.wait_for_messages(1)
    assert m.session.tls and m.session.auth_user == "me"
    assert m.mail_from == "" and m.data == b"Subject: t\r\n\r\nhi\r\n"


def test_peer_pipelining_reuse_rset_bdat_dotstuffing(smtp_peer, netlab_port):
    p = smtp_peer(ADDRS[3])
    r = Raw(ADDRS[3], netlab_port)
    r.reply()
    r.cmd("EHLO c.test")
    # a pipelined group: all replies come, in order
    r.s.sendall(b"MAIL FROM:<a@y.test> SIZE=100 BODY=8BITMIME "
                b"RET=HDRS ENVID=e1\r\nRCPT TO:<b@x.test> NOTIFY=NEVER "
                b"ORCPT=rfc822;b@x.test\r\nDATA\r\n")
    assert r.reply().startswith(b"250")
    assert r.reply().startswith(b"250")
    assert r.reply().startswith(b"354")
    r.s.sendall(b"..leading dot\r\n..\r\nx\r\n.\r\n")
    assert r.reply().startswith(b"250")
    # second transaction in the same session, aborted with RSET
    assert r.cmd("MAIL FROM:<a@y.test>").startswith(b"250")
    assert r.cmd("RSET").startswith(b"250")
    # third, with BDAT chunks
    assert r.cmd("MAIL FROM:<c@y.test>").startswith(b"250")
    assert r.cmd("RCPT TO:<d@x.test>").startswith(b"250")
    r.s.sendall(b"BDAT 5\r\nhello")
    assert r.reply().startswith(b"250")
    r.s.sendall(b"BDAT 9 LAST\r\n\r\n.world\n")
    assert r.reply().startswith(b"250")
    assert r.cmd("QUIT").startswith(b"221")
    r.close()
    m1, m2 = p.wait_for_messages(2)
    assert m1.mail_params == {"SIZE": "100", "BODY": "8BITMIME",
                              "RET": "HDRS", "ENVID": "e1"}
    assert m1.rcpts[0].params == {"NOTIFY": "NEVER",
                                  "ORCPT": "rfc822;b@x.test"}
    assert m1.raw == b"..leading dot\r\n..\r\nx\r\n"
    assert m1.data == b".leading dot\r\n.\r\nx\r\n"
    assert m2.bdat and m2.chunks == [5, 9]
    assert m2.data == b"hello\r\n.world\n"
    s = p.sessions[0]
    assert len(s.transactions) == 3 and s.transactions[1].reply is None
    assert s.commands[-1] == "QUIT"


def test_peer_parallel_sessions(smtp_peer, netlab_port):
    p = smtp_peer(ADDRS[4])
    errors = []

    def one(i):
        try:
            r = Raw(ADDRS[4], netlab_port)
            r.reply()
            r.cmd("EHLO c%d.test" % i)
            for j in range(3):
                assert r.cmd("MAIL FROM:<s%d@y.test>" % i).startswith(b"250")
                assert r.cmd("RCPT TO:<r%d@x.test>" % j).startswith(b"250")
                assert r.cmd("DATA").startswith(b"354")
                assert r.cmd("m %d %d\r\n." % (i, j)).startswith(b"250")
            r.cmd("QUIT")
            r.close()
        except Exception as e:     # reported below
            errors.append(e)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors
    assert len(p.wait_for_messages(60)) == 60
    assert len(p.sessions) == 20
    p.reset()
    assert p.messages == [] and p.sessions == []


def test_peer_scripted_replies(smtp_peer, netlab_port):
    p = smtp_peer(ADDRS[5])
    p.on("rcpt", by_address({"temp@x.test": "450 4.2.1 later",
                             "perm@x.test": "550 5.1.1 no such user"}))
    p.on("dot", "452 4.3.1 insufficient storage")
    r = Raw(ADDRS[5], netlab_port)
    r.reply()
    r.cmd("EHLO c")
    r.cmd("MAIL FROM:<a@y>")
    assert r.cmd("RCPT TO:<temp@x.test>").startswith(b"450 4.2.1")
    assert r.cmd("RCPT TO:<PERM@x.test>").startswith(b"550 5.1.1")
    assert r.cmd("DATA").startswith(b"554")      # no valid recipients
    assert r.cmd("RCPT TO:<ok@x.test>").startswith(b"250")
    r.cmd("DATA")
    assert r.cmd("x\r\n.") == b"452 4.3.1 insufficient storage\r\n"
    r.close()
    t = p.wait_for_sessions(1)[0].transactions[0]
    assert [(x.address, x.reply[:3]) for x in t.rcpts] == [
        ("temp@x.test", "450"), ("PERM@x.test", "550"),
        ("ok@x.test", "250")]
    assert t.reply.startswith("452") and not p.messages
    # greeting 554; 421 then close on MAIL
    p.clear_hooks()
    p.on("connect", "554 5.3.2 go away")
    r = Raw(ADDRS[5], netlab_port)
    assert r.reply().startswith(b"554 ")
    r.close()
    p.clear_hooks()
    p.on("mail", reply_close("421 4.3.2 shutting down"))
    r = Raw(ADDRS[5], netlab_port)
    r.reply()
    r.cmd("EHLO c")
    assert r.cmd("MAIL FROM:<a@y>").startswith(b"421 ")
    with pytest.raises(EOFError):
        r.reply()
    r.close()
    # close right after the greeting
    p.on("connect", reply_close("220 hello and bye"))
    r = Raw(ADDRS[5], netlab_port)
    assert r.reply() == b"220 hello and bye\r\n"
    # closed: EOF, or a reset when the EHLO reaches the closed socket first
    with pytest.raises((EOFError, ConnectionResetError)):
        r.cmd("EHLO c")
    r.close()


def test_peer_multiline_dot_reply_format(smtp_peer, netlab_port):
    p = smtp_peer(ADDRS[5])
    p.on("dot", "452-4.3.1 insufficient storage\n452 4.3.1 still full")
    r = Raw(ADDRS[5], netlab_port)
    r.reply()
    r.cmd("EHLO c")
    r.cmd("MAIL FROM:<a@y>")
    r.cmd("RCPT TO:<b@x>")
    r.cmd("DATA")
    assert r.cmd("x\r\n.") == (b"452-4.3.1 insufficient storage\r\n"
                               b"452 4.3.1 still full\r\n")
    r.close()


def test_peer_hostile_endless(smtp_peer, netlab_port):
    p = smtp_peer(ADDRS[6])
    p.on("ehlo", endless(limit=10 * 1024 * 1024))
    r = Raw(ADDRS[6], netlab_port)
    r.reply()
    r.s.sendall(b"EHLO c\r\n")
    first = r.s.recv(100)
    assert first.startswith(b"250-xxx")
    n = r.read_all(20 * 1024 * 1024)
    assert 10 * 1024 * 1024 <= n + len(first) < 11 * 1024 * 1024
    r.close()


def test_peer_hostile_long_line_and_garbage(smtp_peer, netlab_port):
    p = smtp_peer(ADDRS[7])
    p.on("ehlo", long_line(1024 * 1024))
    r = Raw(ADDRS[7], netlab_port)
    r.reply()
    r.s.sendall(b"EHLO c\r\n")
    ln = r.reply(limit=2 << 20)
    assert len(ln) == 1024 * 1024 and ln.startswith(b"250 xxx") and \
        ln.endswith(b"x\r\n")
    assert r.cmd("NOOP").startswith(b"250")        # the session goes on
    r.close()
    p.on("ehlo", garbage(64 * 1024))
    r = Raw(ADDRS[7], netlab_port)
    r.reply()
    r.s.sendall(b"EHLO c\r\n")
    assert r.read_all(1 << 20) == 64 * 1024
    r.close()


def test_peer_hostile_stall(smtp_peer, netlab_port):
    p = smtp_peer(ADDRS[8], stall_max=30)
    p.on("mail", stall())
    r = Raw(ADDRS[8], netlab_port)
    r.reply()
    r.cmd("EHLO c")
    r.s.sendall(b"MAIL FROM:<a@b>\r\n")
    r.s.settimeout(1.5)
    with pytest.raises(socket.timeout):
        r.s.recv(10)
    r.close()
    p.wait_for_sessions(1)            # ends when the client closes
    # a stalled greeting; stop() ends it at once
    p.on("connect", stall())
    r = Raw(ADDRS[8], netlab_port)
    r.s.settimeout(1.0)
    with pytest.raises(socket.timeout):
        r.s.recv(10)
    t = time.monotonic()
    p.stop()
    assert time.monotonic() - t < 5
    r.s.settimeout(IO)
    assert r.s.recv(10) == b""
    r.close()


def test_peer_starttls_injection(smtp_peer, netlab_port, test_ca):
    cert, key = test_ca.leaf("mx.inject.test")
    p = smtp_peer(ADDRS[9], cert=cert, key=key)
    p.on("starttls", inject("220 2.0.0 go ahead", b"250 injected\r\n"))
    r = Raw(ADDRS[9], netlab_port)
    r.reply()
    r.cmd("EHLO c")
    r.s.sendall(b"STARTTLS\r\n")
    # both arrive before the handshake, in one segment
    got = b""
    while b"injected\r\n" not in got:
        d = r.s.recv(4096)
        assert d
        got += d
    assert got == b"220 2.0.0 go ahead\r\n250 injected\r\n"
    # a correct client drops them and does the handshake
    s = client_ctx(test_ca.ca_file).wrap_socket(
        r.s, server_hostname="mx.inject.test")
    r.s, r.buf = s, b""
    assert b"250 CHUNKING" in r.cmd("EHLO c")
    assert r.cmd("QUIT").startswith(b"221")
    r.close()
    sess = p.wait_for_sessions(1)[0]
    assert sess.tls and sess.ehlos == ["EHLO c", "EHLO c"]
    assert sess.sni == "mx.inject.test"


def test_peer_starttls_client_pipelined_bytes_recorded(smtp_peer, netlab_port,
                                                      test_ca):
    cert, key = test_ca.leaf("mx.x.test")
    p = smtp_peer(ADDRS[10], cert=cert, key=key)
    r = Raw(ADDRS[10], netlab_port)
    r.reply()
    r.cmd("EHLO c")
    r.s.sendall(b"STARTTLS\r\nMAIL FROM:<evil@x>\r\n")
    assert r.reply().startswith(b"220")
    r.s = client_ctx().wrap_socket(r.s)
    assert r.cmd("EHLO c").startswith(b"250")
    r.close()
    s = p.wait_for_sessions(1)[0]
    assert s.starttls_pipelined in (b"MAIL FROM:<evil@x>\r\n", b"")


def test_peer_custom_extensions_and_size(smtp_peer, netlab_port):
    p = smtp_peer(ADDRS[11], extensions=["SIZE {size}", "8BITMIME"],
                  size=1000)
    r = Raw(ADDRS[11], netlab_port)
    r.reply()
    assert r.cmd("EHLO c") == b"250-peer.test\r\n250-SIZE 1000\r\n" \
        b"250 8BITMIME\r\n"
    assert r.cmd("MAIL FROM:<a@b> SIZE=1001").startswith(b"552 5.3.4")
    assert r.cmd("MAIL FROM:<a@b> SIZE=1000").startswith(b"250")
    r.close()
    assert p.wait_for_sessions(1)


def test_smtp_port_free_on_all_addresses():
    port = smtp_port(ADDRS[:5])
    socks = []
    try:
        for a in ADDRS[:5]:
            s = socket.socket()
            s.bind((a, port))
            socks.append(s)
    finally:
        for s in socks:
            s.close()


# --------------------------------------------------------------------------
# Postfix and smtp-sink
# --------------------------------------------------------------------------

def etc_postfix_state():
    out = []
    for dp, _, fn in sorted(os.walk("/etc/postfix")):
        for f in sorted(fn):
            st = os.lstat(os.path.join(dp, f))
            out.append((dp, f, st.st_mtime_ns, st.st_size))
    return out


def processes_mentioning(text):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if text.encode() in f.read():
                        out.append(int(d))
            except OSError:
                pass
    return out


def test_postfix_peer(postfix_peer, netlab_port, test_ca):
    before = etc_postfix_state()
    cert, key = test_ca.leaf("pf.x.test")
    pf = postfix_peer(ADDRS[20], "x.test", cert=cert, key=key)
    swaks(netlab_port, ADDRS[20], "--tls", "--tls-verify", "--tls-ca-path",
          test_ca.ca_file, "--tls-sni", "pf.x.test", to="someone@x.test")
    files = pf.wait_for_maildir(1)
    with open(files[0], "rb") as f:
        msg = f.read()
    assert b"Delivered-To: someone@x.test" in msg
    assert b"TLS" in msg        # smtpd_tls_received_header
    master = pf.master
    pf.stop()
    assert not processes_mentioning(pf.etc)
    assert not os.path.exists("/proc/%d" % master) or \
        "Z" in open("/proc/%d/status" % master).read()
    assert etc_postfix_state() == before


def test_postfix_peer_users_only(postfix_peer, netlab_port):
    pf = postfix_peer(ADDRS[21], "y.test", users=["alice"])
    r = Raw(ADDRS[21], netlab_port)
    r.reply()
    r.cmd("EHLO c.test")
    r.cmd("MAIL FROM:<a@z.test>")
    assert r.cmd("RCPT TO:<bob@y.test>").startswith(b"550")
    assert r.cmd("RCPT TO:<alice@y.test>").startswith(b"250")
    assert r.cmd("DATA").startswith(b"354")
    assert r.cmd("Subject: hi\r\n\r\nbody\r\n.").startswith(b"250")
    r.cmd("QUIT")
    r.close()
    f, = pf.wait_for_maildir(1)
    assert "/y.test/alice/new/" in f


def test_smtp_sink(netlab_port):
    need("smtp-sink")
    sink = SmtpSink(ADDRS[22], netlab_port)
    try:
        swaks(netlab_port, ADDRS[22])
    finally:
        sink.stop()
    assert not processes_mentioning("%s:%d" % (ADDRS[22], netlab_port))


# --------------------------------------------------------------------------
# Issue 5 additions: DANE helpers, chains, REQUIRETLS, the MTA-STS policy
# server, the STARTTLS-stripping proxy
# --------------------------------------------------------------------------

def spki_sha256(pem_path):
    pub = sh(["openssl", "x509", "-noout", "-pubkey", "-in",
              pem_path]).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                         input=pub.encode(), stdout=subprocess.PIPE,
                         check=True).stdout
    import hashlib
    return hashlib.sha256(der).hexdigest()


def test_ca_chain_tlsa_and_forger(test_ca, other_ca, tmp_path):
    cert, key = test_ca.leaf(["mx1.ta.test"], chain=True)
    text = open(cert).read()
    assert text.count("BEGIN CERTIFICATE") == 2
    assert text.endswith(first_pem(test_ca.ca_file))
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(first_pem(cert))
    # the leaf of a chain file is what TLSA 3 1 1 covers
    assert TestCA.tlsa(cert) == TestCA.tlsa(str(leaf))
    assert TestCA.tlsa(cert).split()[3] == spki_sha256(str(leaf))
    # 2 1 1 is the CA's SubjectPublicKeyInfo
    ta = test_ca.tlsa_ta()
    assert ta == "2 1 1 " + spki_sha256(test_ca.ca_file)
    r = sh(["openssl", "verify", "-CAfile", test_ca.ca_file,
            "-verify_hostname", "mx1.ta.test", str(leaf)])
    assert ": OK" in r.stdout
    # a forged certificate: right name, another CA
    forged, _ = other_ca.leaf(["mx1.ta.test"])
    assert other_ca.ca_file != test_ca.ca_file
    r = sh(["openssl", "verify", "-CAfile", test_ca.ca_file, forged],
           check=False)
    assert r.returncode != 0
    r = sh(["openssl", "verify", "-CAfile", other_ca.ca_file, forged])
    assert ": OK" in r.stdout


def test_dns_dane_records_and_broken_signature(dns, ubprog, test_ca):
    cert, _ = test_ca.leaf(["mx1.sec.test"])
    with dns.batch():
        dns.zone("sec.test")
        dns.mx("sec.test", "mx1.sec.test", (20, "mx2.sec.test"))
        dns.a("mx1.sec.test", ADDRS[0])
        dns.a("mx2.sec.test", ADDRS[1])
        ee = dns.dane("mx1.sec.test", cert)
        ta = dns.dane("mx2.sec.test", rdata=test_ca.tlsa_ta())
        dns.zone("ins.test", "insecure")
        dns.mx("ins.test", "mx1.ins.test")
        dns.a("mx1.ins.test", ADDRS[2])
        dns.dane("mx1.ins.test", rdata="3 1 1 " + "00" * 32)
        dns.mta_sts("sec.test", STS_ADDRS[0], id="20240101")
        dns.tlsrpt("sec.test", "mailto:rpt@reports.test")
    assert ee == TestCA.tlsa(cert) and ta.startswith("2 1 1 ")
    assert dig(dns, "_25._tcp.mx1.sec.test", "TLSA")[0].replace(
        " ", "").lower() == ee.replace(" ", "").lower()
    assert dns.query("_mta-sts.sec.test", "TXT")[1] == [
        (16, "v=STSv1; id=20240101")]
    assert dns.query("mta-sts.sec.test", "A")[1] == [(1, STS_ADDRS[0])]
    assert dns.query("_smtp._tls.sec.test", "TXT")[1] == [
        (16, "v=TLSRPTv1; rua=mailto:rpt@reports.test")]
    conf = dns.petrel_conf()

    def look(name, t):
        return petrel_like_lookup(ubprog, conf, name, t)[0]
    assert "havedata=1 secure=1 bogus=0" in look("_25._tcp.mx1.sec.test",
                                                 "TLSA")
    assert "havedata=1 secure=1 bogus=0" in look("_25._tcp.mx2.sec.test",
                                                 "TLSA")
    assert "havedata=1 secure=0 bogus=0" in look("_25._tcp.mx1.ins.test",
                                                 "TLSA")
    # one RRset bogus, the rest of the zone still secure
    dns.break_sig("_25._tcp.mx1.sec.test", "TLSA")
    out = look("_25._tcp.mx1.sec.test", "TLSA")
    assert "secure=0 bogus=1" in out, out
    assert "havedata=1 secure=1 bogus=0" in look("mx1.sec.test", "A")
    assert "havedata=1 secure=1 bogus=0" in look("sec.test", "MX")
    assert "havedata=1 secure=1 bogus=0" in look("_25._tcp.mx2.sec.test",
                                                 "TLSA")
    # a change re-signs the zone: the breakage is applied again
    dns.a("mx3.sec.test", ADDRS[3])
    assert "bogus=1" in look("_25._tcp.mx1.sec.test", "TLSA")
    with pytest.raises(ValueError):
        dns.break_sig("mx1.ins.test", "A")      # unsigned zone
    # reset forgets it
    dns.reset()
    with dns.batch():
        dns.zone("sec.test")
        dns.dane("mx1.sec.test", cert)
    assert "secure=1 bogus=0" in look("_25._tcp.mx1.sec.test", "TLSA")


def openssl_chain_len(addr, port):
    """Certificates the server sends after STARTTLS (openssl s_client)."""
    r = subprocess.run(["openssl", "s_client", "-connect",
                        "%s:%d" % (addr, port), "-starttls", "smtp",
                        "-showcerts"], input="QUIT\r\n", text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    return r.stdout.count("-----BEGIN CERTIFICATE-----")


def test_peer_serves_chain(smtp_peer, netlab_port, test_ca):
    cert, key = test_ca.leaf(["mx1.ta.test"], chain=True)
    smtp_peer(ADDRS[0], cert=cert, key=key)
    assert openssl_chain_len(ADDRS[0], netlab_port) == 2
    cert1, key1 = test_ca.leaf(["mx1.ta.test"])
    smtp_peer(ADDRS[1], cert=cert1, key=key1)
    assert openssl_chain_len(ADDRS[1], netlab_port) == 1


def test_peer_requiretls_and_tls_record(smtp_peer, netlab_port, test_ca):
    cert, key = test_ca.leaf(["mx1.rt.test"])
    p = smtp_peer(ADDRS[0], cert=cert, key=key, requiretls=True)
    c = Raw(ADDRS[0], netlab_port)
    c.reply()
    r = c.cmd("EHLO client.test")
    assert b"STARTTLS" in r and b"REQUIRETLS" not in r   # RFC 8689 2
    # MAIL ... REQUIRETLS before TLS: recorded like any parameter
    assert c.cmd("STARTTLS").startswith(b"220")
    c.s = client_ctx(test_ca.ca_file, "mx1.rt.test").wrap_socket(
        c.s, server_hostname="mx1.rt.test")
    r = c.cmd("EHLO client.test")
    assert b"250-REQUIRETLS" in r or b"250 REQUIRETLS" in r
    assert b"STARTTLS" not in r
    assert c.cmd("MAIL FROM:<a@x.test> REQUIRETLS SIZE=10").startswith(
        b"250")
    assert c.cmd("RCPT TO:<b@rt.test>").startswith(b"250")
    assert c.cmd("DATA").startswith(b"354")
    assert c.cmd("Subject: x\r\n\r\nhi\r\n.").startswith(b"250")
    c.cmd("QUIT")
    c.close()
    m, = p.wait_for_messages(1)
    assert "REQUIRETLS" in m.mail_params and m.mail_params["REQUIRETLS"] \
        is None
    assert m.session.tls and m.session.tls_version in ("TLSv1.2",
                                                       "TLSv1.3")
    # a plain session is recorded as such
    c = Raw(ADDRS[0], netlab_port)
    c.reply()
    c.cmd("EHLO plain.test")
    c.cmd("QUIT")
    c.close()
    s = p.wait_for_sessions(2)[1]
    assert not s.tls and s.tls_version is None


def test_peer_stops_offering_starttls(smtp_peer, netlab_port, test_ca):
    cert, key = test_ca.leaf(["mx1.x.test"])
    p = smtp_peer(ADDRS[0], cert=cert, key=key)
    c = Raw(ADDRS[0], netlab_port)
    c.reply()
    assert b"STARTTLS" in c.cmd("EHLO a.test")
    # the client's connection stays open; the peer changes its mind
    p.offer_starttls = False
    p.drop_sessions()
    with pytest.raises((EOFError, OSError)):
        c.cmd("NOOP")
        c.cmd("NOOP")
    c.close()
    assert p.sessions[0].ended.is_set()
    c = Raw(ADDRS[0], netlab_port)
    c.reply()
    assert b"STARTTLS" not in c.cmd("EHLO a.test")
    assert c.cmd("STARTTLS").startswith(b"502")
    c.close()
    p2 = smtp_peer(ADDRS[1], cert=cert, key=key, starttls=False)
    c = Raw(ADDRS[1], netlab_port)
    c.reply()
    assert b"STARTTLS" not in c.cmd("EHLO a.test")
    c.close()
    assert p2.offer_starttls is False


# ---- StsServer ----

def https_get(addr, port, host, cafile=None, path=STS_PATH, timeout=10):
    """GET https://HOST/path from addr:port, verifying HOST against cafile;
    returns (status, {header: value}, body)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((addr, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close"
                       "\r\n\r\n" % (path, host)).encode())
            data = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), hdrs, body


def sts_port():
    return 443 if os.geteuid() == 0 else free_port([STS_ADDRS[0]])


def test_sts_server_behaviours(sts_server, test_ca):
    port = sts_port()
    pol = sts_policy("enforce", ["mx1.sts.test", "*.sts.test"], 604800)
    assert pol == ("version: STSv1\r\nmode: enforce\r\nmx: mx1.sts.test\r\n"
                   "mx: *.sts.test\r\nmax_age: 604800\r\n")
    srv = sts_server("sts.test", port=port, body=pol)   # a free address
    addr = srv.addr
    assert addr in STS_ADDRS
    host = "mta-sts.sts.test"
    st, h, body = https_get(addr, port, host, test_ca.ca_file)
    assert st == 200 and body == pol.encode()
    assert h["content-type"] == "text/plain"
    assert int(h["content-length"]) == len(pol)
    r, = srv.requests
    assert (r.host, r.sni, r.path, r.method, r.status) == (
        host, host, STS_PATH, "GET", 200)
    assert abs(r.time - time.time()) < 30 and r.client[0] == "127.0.0.1"
    # other paths: 404
    st, _, _ = https_get(addr, port, host, test_ca.ca_file,
                         path="/other")
    assert st == 404
    # status, content type, no content type
    srv.set(status=500, body="oops")
    assert https_get(addr, port, host)[0] == 500
    srv.set(status=200, body=pol, content_type="text/html")
    assert https_get(addr, port, host)[1]["content-type"] == \
        "text/html"
    srv.set(content_type=None)
    assert "content-type" not in https_get(addr, port, host)[1]
    srv.set(content_type="text/plain")
    # redirect
    srv.set(redirect="https://elsewhere.test/.well-known/mta-sts.txt")
    st, h, _ = https_get(addr, port, host)
    assert st == 301 and h["location"].startswith("https://elsewhere.test/")
    srv.set(redirect=None)
    # slow
    srv.set(delay=1.5)
    t = time.monotonic()
    assert https_get(addr, port, host)[0] == 200
    assert time.monotonic() - t >= 1.4
    srv.set(delay=0)
    # stalled: the client times out, nothing was sent
    srv.set(stall=True)
    n = len(srv.requests)
    with pytest.raises((socket.timeout, TimeoutError)):
        https_get(addr, port, host, timeout=1.5)
    assert len(srv.requests) == n + 1 and srv.requests[-1].status is None
    srv.set(stall=False)
    # down
    srv.stop()
    with pytest.raises(ConnectionRefusedError):
        https_get(addr, port, host)
    srv.start()
    assert https_get(addr, port, host, test_ca.ca_file)[0] == 200
    # curl, as libcurl fetches it
    if shutil.which("curl"):
        r = sh(["curl", "-sS", "--max-time", "10", "--cacert",
                test_ca.ca_file, "--resolve", "%s:%d:%s" % (
                    host, port, addr),
                "https://%s:%d%s" % (host, port, STS_PATH)])
        assert r.stdout == pol.replace("\r\n", "\n")   # text mode


def test_sts_server_bad_certificates(sts_server, test_ca):
    port = free_port([STS_ADDRS[1], STS_ADDRS[2]])
    wrong = sts_server("w.test", STS_ADDRS[1], port=port, cert="wrong",
                       body=sts_policy("enforce", ["mx.w.test"]))
    selfs = sts_server("s.test", STS_ADDRS[2], port=port, cert="self",
                       body=sts_policy("enforce", ["mx.s.test"]))
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch|match"):
        https_get(STS_ADDRS[1], port, "mta-sts.w.test", test_ca.ca_file)
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get(STS_ADDRS[2], port, "mta-sts.s.test", test_ca.ca_file)
    # unverified, both serve
    assert https_get(STS_ADDRS[1], port, "mta-sts.w.test")[0] == 200
    assert https_get(STS_ADDRS[2], port, "mta-sts.s.test")[0] == 200
    # the failed handshakes are not requests
    assert len(wrong.requests) == 1 and len(selfs.requests) == 1


# ---- StripProxy ----

def test_strip_proxy_refuse(smtp_peer, strip_proxy, netlab_port, test_ca):
    cert, key = test_ca.leaf(["mx1.x.test"])
    peer = smtp_peer(ADDRS[1], cert=cert, key=key)
    px = strip_proxy(ADDRS[0], ADDRS[1])
    c = Raw(ADDRS[0], netlab_port)
    assert c.reply().startswith(b"220")
    r = c.cmd("EHLO client.test")
    assert b"STARTTLS" not in r
    assert b"250-XXXXXXXA\r\n" in r or b"250 XXXXXXXA\r\n" in r
    assert r.startswith(b"250-peer.test")
    assert c.cmd("STARTTLS").startswith(b"500")
    assert c.cmd("MAIL FROM:<a@x.test>").startswith(b"250")
    assert c.cmd("RCPT TO:<b@x.test>").startswith(b"250")
    assert c.cmd("DATA").startswith(b"354")
    assert c.cmd("Subject: plain\r\n\r\n..dot\r\nsecret body\r\n.") \
        .startswith(b"250")
    c.cmd("QUIT")
    c.close()
    s, = px.wait_for_sessions(1)
    assert s.stripped == 1 and s.starttls == "refused"
    assert "STARTTLS" in s.commands
    # the bytes as sent (dot-stuffed)
    assert px.plaintext_data == (b"Subject: plain\r\n\r\n..dot\r\n"
                                 b"secret body\r\n")
    m, = peer.wait_for_messages(1)
    assert not m.session.tls and b"secret body" in m.data
    # the STARTTLS never reached the peer
    assert "STARTTLS" not in peer.sessions[0].commands
    # the unmodified EHLO reply really had STARTTLS: same length
    c = Raw(ADDRS[1], netlab_port)
    c.reply()
    direct = c.cmd("EHLO client.test")
    c.close()
    assert len(direct) == len(r) and b"STARTTLS" in direct


def test_strip_proxy_rewrite_pipelined_and_bdat(smtp_peer, strip_proxy,
                                                netlab_port, test_ca):
    cert, key = test_ca.leaf(["mx1.x.test"])
    peer = smtp_peer(ADDRS[1], cert=cert, key=key)
    px = strip_proxy(ADDRS[0], ADDRS[1], starttls="rewrite")
    c = Raw(ADDRS[0], netlab_port)
    c.reply()
    c.cmd("EHLO client.test")
    assert c.cmd("STARTTLS").startswith(b"500")      # the peer's answer
    assert "XXXXXXXX" in peer.sessions[0].commands
    # pipelined MAIL/RCPT/DATA: the commands are not taken for data
    c.s.sendall(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n")
    assert c.reply().startswith(b"250")
    assert c.reply().startswith(b"250")
    assert c.reply().startswith(b"354")
    assert c.cmd("one\r\n.").startswith(b"250")
    assert c.cmd("MAIL FROM:<a@x.test>").startswith(b"250")
    assert c.cmd("RCPT TO:<b@x.test>").startswith(b"250")
    c.s.sendall(b"BDAT 5\r\ntwo\r\n")
    assert c.reply().startswith(b"250")
    assert c.cmd("BDAT 0 LAST").startswith(b"250")
    c.cmd("QUIT")
    c.close()
    s, = px.wait_for_sessions(1)
    assert s.starttls == "rewritten"
    assert px.plaintext_data == b"one\r\ntwo\r\n"
    assert [m.data for m in peer.wait_for_messages(2)] == [b"one\r\n",
                                                           b"two\r\n"]


def test_strip_proxy_forward_tls_end_to_end(smtp_peer, strip_proxy,
                                            netlab_port, test_ca):
    cert, key = test_ca.leaf(["mx1.x.test"])
    peer = smtp_peer(ADDRS[1], cert=cert, key=key)
    px = strip_proxy(ADDRS[0], ADDRS[1], starttls="forward")
    c = Raw(ADDRS[0], netlab_port)
    c.reply()
    assert b"XXXXXXXA" in c.cmd("EHLO client.test")
    assert c.cmd("STARTTLS").startswith(b"220")
    c.s = client_ctx(test_ca.ca_file, "mx1.x.test").wrap_socket(
        c.s, server_hostname="mx1.x.test")
    r = c.cmd("EHLO client.test")
    assert b"250" in r
    assert c.cmd("MAIL FROM:<a@x.test>").startswith(b"250")
    assert c.cmd("RCPT TO:<b@x.test>").startswith(b"250")
    assert c.cmd("DATA").startswith(b"354")
    assert c.cmd("secret\r\n.").startswith(b"250")
    c.cmd("QUIT")
    c.close()
    m, = peer.wait_for_messages(1)
    assert m.session.tls and m.data == b"secret\r\n"
    s, = px.wait_for_sessions(1)
    assert s.starttls == "forwarded" and s.passthrough
    assert px.plaintext_data == b""
    # transparent mode: nothing rewritten
    px2 = strip_proxy(ADDRS[2], ADDRS[1], strip=False)
    c = Raw(ADDRS[2], netlab_port)
    c.reply()
    assert b"STARTTLS" in c.cmd("EHLO client.test")
    c.close()
    assert px2.wait_for_sessions(1)[0].stripped == 0
