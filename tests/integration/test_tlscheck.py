"""
`petrel tls-check` (issue 5, tools for operators): the report on a
destination's transport security and what petrel would do, against the
test network of netlab.py (signed zones with TLSA records, SmtpPeer
receivers with test-CA certificates, the MTA-STS policy host StsServer,
the STARTTLS-stripping StripProxy).

The tool runs here as root outside any chroot, like an operator would;
its configuration names a state directory that does not exist, and each
test checks that the tool did not create it (it writes nothing into
STATE). Each case asserts on the output lines (format: the top comment
of src/bin/cmd_tlscheck.c), the exit status (0 deliver, 1 not, 2 usage)
and on what the receiving server saw (STARTTLS, TLS, SNI, never a MAIL
command).

Addresses: ADDRS[30..37] for peers and proxies, STS_ADDRS[10..11] for
policy hosts (port 443: the tests run as root), apart from those of
test_tlssec.py.
"""
import os
import re
import subprocess

import pytest

pytest.register_assert_rewrite("netlab")
from netlab import (ADDRS, STS_ADDRS, endless, inject,  # noqa: E402
                    long_line, sts_policy)

pytest_plugins = ["netlab"]

PETREL_BIN = os.environ.get("PETREL_BIN", "build/release/petrel")
RUN_TIMEOUT = 150       # seconds for one tool run (its own waits are capped)


@pytest.fixture
def conf(tmp_path, dns, netlab_port, test_ca):
    """A configuration for the tool: the test DNS (DNSSEC with the test.
    anchor), the peers' port, the test CA for MTA-STS and outbound PKIX,
    short timeouts; STATE does not exist."""
    state = tmp_path / "state"
    path = tmp_path / "petrel.conf"
    lines = ["state-dir %s" % state] + dns.petrel_conf() + [
        "remote-port %d" % netlab_port,
        "remote-timeout-connect 5s",
        "remote-timeout-command 10s",
        "outbound-ca-file %s" % test_ca.ca_file,
        "mta-sts-ca-file %s" % test_ca.ca_file,
    ]
    path.write_text("\n".join(lines) + "\n")
    yield str(path)
    assert not state.exists(), "tls-check wrote into STATE"


def tls_check(conf, *args):
    """Runs `petrel tls-check ARGS --config CONF`; (exit status, stdout)."""
    cmd = [PETREL_BIN, "tls-check"] + list(args) + [
        "--config", conf, "--sts-timeout", "10"]
    p = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=RUN_TIMEOUT)
    assert "Sanitizer" not in p.stderr, p.stderr
    assert "runtime error" not in p.stderr, p.stderr
    lines = p.stdout.splitlines()
    assert lines and lines[-1].startswith("result "), (p.stdout, p.stderr)
    return p.returncode, p.stdout


def line(out, prefix):
    """The first output line starting with prefix (stripped), or fail."""
    for l in out.splitlines():
        if l.strip().startswith(prefix):
            return l.strip()
    pytest.fail("no line starting with %r in:\n%s" % (prefix, out))


def has(out, regex):
    return re.search(regex, out, re.M) is not None


def no_mail(peer):
    """The tool never starts a transaction."""
    assert not any(c.upper().startswith(("MAIL", "RCPT", "DATA", "BDAT"))
                   for s in peer.sessions for c in s.commands), peer.sessions
    assert peer.messages == []


def secure_mx(dns, domain, host, addr, zone="secure"):
    dns.zone(domain, zone)
    dns.mx(domain, host)
    dns.a(host, addr)


# --------------------------------------------------------------------------
# DANE
# --------------------------------------------------------------------------

def test_dane_match(conf, dns, smtp_peer, test_ca):
    """DANE-EE matching the peer's key (the certificate's name is wrong:
    DANE-EE ignores names): the plan is dane, the handshake verifies by
    DANE, petrel would deliver; the peer saw STARTTLS with SNI = the MX
    name (the TLSA base domain) and no MAIL."""
    cert, key = test_ca.leaf(["unrelated.test"])
    peer = smtp_peer(ADDRS[30], cert=cert, key=key)
    with dns.batch():
        secure_mx(dns, "ck1.test", "mx1.ck1.test", ADDRS[30])
        rdata = dns.dane("mx1.ck1.test", cert)
    rc, out = tls_check(conf, "ck1.test")
    assert rc == 0, out
    assert line(out, "domain ck1.test").startswith(
        "domain ck1.test mx-dnssec secure")
    assert has(out, r"^tlsa mx1\.ck1\.test dane 1 usable of 1 secure TLSA")
    assert line(out, "record ") == "record " + rdata.lower()
    assert line(out, "plan mx1.ck1.test").startswith(
        "plan mx1.ck1.test security dane ")
    assert line(out, "starttls ") == "starttls offered"
    assert has(out, r"^  tls TLSv1\.[23] cipher \S+$")
    assert has(out, r"^  cert 0 subject .*CN=unrelated\.test")
    assert has(out, r"^  cert 0 san DNS:unrelated\.test$")
    assert has(out, r"^  cert 0 not-after \d{4}-\d\d-\d\dT")
    assert line(out, "dane ").startswith("dane ok ")
    # PKIX for the MX name fails (wrong name) but does not matter here
    assert line(out, "pkix outbound-ca-file").startswith(
        "pkix outbound-ca-file fail")
    assert line(out, "verdict ") == ("verdict mx1.ck1.test security dane "
                                     "deliver DANE: TLSA 3 1 1 matched")
    assert line(out, "result ") == "result deliver 1 of 1 hosts"
    s = peer.sessions[-1]
    assert "STARTTLS" in s.commands and s.tls and s.sni == "mx1.ck1.test"
    assert s.quit
    no_mail(peer)


def test_dane_mismatch(conf, dns, smtp_peer, test_ca):
    """A TLSA record for another key: DANE fails, petrel would defer."""
    cert, key = test_ca.leaf(["mx1.ck2.test"])
    other, _ = test_ca.leaf(["mx1.ck2.test"])
    peer = smtp_peer(ADDRS[31], cert=cert, key=key)
    with dns.batch():
        secure_mx(dns, "ck2.test", "mx1.ck2.test", ADDRS[31])
        dns.dane("mx1.ck2.test", other)
    rc, out = tls_check(conf, "ck2.test")
    assert rc == 1, out
    assert line(out, "dane ").startswith("dane fail ")
    v = line(out, "verdict ")
    assert v.startswith("verdict mx1.ck2.test security dane defer DANE: "), v
    assert v.endswith("would defer"), v
    # PKIX (right name, trusted CA) is fine, and shown, but DANE decides
    assert line(out, "pkix outbound-ca-file") == \
        "pkix outbound-ca-file ok mx1.ck2.test"
    assert line(out, "result ").startswith("result defer")
    no_mail(peer)


def test_stripping_proxy_in_front_of_dane_host(conf, dns, smtp_peer,
                                               strip_proxy, test_ca):
    """A middlebox strips STARTTLS in front of a DANE host: STARTTLS not
    offered, petrel would defer (never plaintext to a DANE host)."""
    cert, key = test_ca.leaf(["mx1.ck3.test"])
    peer = smtp_peer(ADDRS[33], cert=cert, key=key)
    px = strip_proxy(ADDRS[32], ADDRS[33])
    with dns.batch():
        secure_mx(dns, "ck3.test", "mx1.ck3.test", ADDRS[32])
        dns.dane("mx1.ck3.test", cert)
    rc, out = tls_check(conf, "ck3.test")
    assert rc == 1, out
    assert line(out, "plan mx1.ck3.test").startswith(
        "plan mx1.ck3.test security dane ")
    assert line(out, "starttls ") == "starttls not-offered"
    assert line(out, "verdict ") == (
        "verdict mx1.ck3.test security dane defer DANE: STARTTLS not "
        "offered: would defer")
    assert px.sessions and any(s.stripped for s in px.sessions)
    assert px.plaintext_data == b""
    assert not any(s.tls for s in peer.sessions)
    no_mail(peer)


# --------------------------------------------------------------------------
# opportunistic
# --------------------------------------------------------------------------

def test_no_starttls_opportunistic(conf, dns, smtp_peer):
    """An insecure zone and a host without STARTTLS: opportunistic, petrel
    would deliver in plaintext."""
    peer = smtp_peer(ADDRS[34])
    secure_mx(dns, "ck4.test", "mx1.ck4.test", ADDRS[34], zone="insecure")
    rc, out = tls_check(conf, "ck4.test")
    assert rc == 0, out
    assert line(out, "domain ck4.test").startswith(
        "domain ck4.test mx-dnssec insecure")
    assert line(out, "tlsa mx1.ck4.test") == (
        "tlsa mx1.ck4.test not-asked addresses not DNSSEC-signed")
    assert line(out, "plan mx1.ck4.test") == (
        "plan mx1.ck4.test security opportunistic addresses not "
        "DNSSEC-signed")
    assert line(out, "remember-tls ") == "remember-tls mx1.ck4.test never"
    assert has(out, r"^  greeting 220 ")
    assert line(out, "starttls ") == "starttls not-offered"
    assert "  tls " not in out
    v = line(out, "verdict ")
    assert v.startswith("verdict mx1.ck4.test security opportunistic "
                        "deliver"), v
    assert "plaintext" in v, v
    assert line(out, "result ") == "result deliver 1 of 1 hosts"
    assert peer.sessions and peer.sessions[-1].quit
    no_mail(peer)


# --------------------------------------------------------------------------
# MTA-STS
# --------------------------------------------------------------------------

def sts_domain(dns, domain, mx_addr, sts_addr, hosts=1):
    """An insecure zone (no DANE) with MX hosts mx1.DOMAIN (-> mx_addr)
    and, with hosts=2, mx2.DOMAIN (preference 20, -> mx_addr too), and
    the MTA-STS records -> sts_addr."""
    with dns.batch():
        dns.zone(domain, "insecure")
        mx = ["mx1." + domain] + ([(20, "mx2." + domain)] if hosts > 1
                                  else [])
        dns.mx(domain, *mx)
        dns.a("mx1." + domain, mx_addr)
        if hosts > 1:
            dns.a("mx2." + domain, mx_addr)
        dns.mta_sts(domain, sts_addr)


def test_mta_sts_enforce_good_certificate(conf, dns, smtp_peer, sts_server,
                                          test_ca):
    """MTA-STS enforce listing mx1 only; mx1's certificate is valid for
    its name under mta-sts-ca-file: mx1 would get the mail over verified
    TLS, mx2 is skipped (not listed, RFC 8461 4.2) without a connection."""
    cert, key = test_ca.leaf(["mx1.ck5.test"])
    peer = smtp_peer(ADDRS[35], cert=cert, key=key)
    srv = sts_server("ck5.test", STS_ADDRS[10],
                     body=sts_policy("enforce", ["mx1.ck5.test"]))
    sts_domain(dns, "ck5.test", ADDRS[35], STS_ADDRS[10], hosts=2)
    rc, out = tls_check(conf, "ck5.test")
    assert rc == 0, out
    assert line(out, "sts ") == "sts ok"
    assert line(out, "mta-sts ck5.test") == "mta-sts ck5.test id 1"
    assert "mode: enforce" in out
    assert line(out, "plan mx1.ck5.test").startswith(
        "plan mx1.ck5.test security mta-sts MTA-STS policy id 1 mode "
        "enforce")
    assert line(out, "pkix mta-sts-ca-file") == \
        "pkix mta-sts-ca-file ok mx1.ck5.test"
    assert line(out, "verdict mx1.ck5.test") == (
        "verdict mx1.ck5.test security mta-sts deliver MTA-STS enforce: "
        "certificate valid for mx1.ck5.test")
    assert line(out, "plan mx2.ck5.test") == (
        "plan mx2.ck5.test security unusable not in the MTA-STS "
        "policy (id 1)")
    assert line(out, "verdict mx2.ck5.test") == (
        "verdict mx2.ck5.test security unusable skip not in the "
        "MTA-STS policy (id 1): skipped")
    assert "connect mx2.ck5.test" not in out
    assert line(out, "result ") == "result deliver 1 of 2 hosts"
    assert srv.requests and srv.requests[0].host == "mta-sts.ck5.test"
    s = peer.sessions[-1]
    assert s.tls and s.sni == "mx1.ck5.test"
    no_mail(peer)


def test_mta_sts_enforce_wrong_name(conf, dns, smtp_peer, sts_server,
                                    test_ca):
    """MTA-STS enforce, the MX's certificate from the right CA but for
    another name: petrel would defer."""
    cert, key = test_ca.leaf(["other.ck6.test"])
    peer = smtp_peer(ADDRS[36], cert=cert, key=key)
    sts_server("ck6.test", STS_ADDRS[11],
               body=sts_policy("enforce", ["mx1.ck6.test"]))
    sts_domain(dns, "ck6.test", ADDRS[36], STS_ADDRS[11])
    rc, out = tls_check(conf, "ck6.test")
    assert rc == 1, out
    assert line(out, "sts ") == "sts ok"
    assert line(out, "pkix mta-sts-ca-file").startswith(
        "pkix mta-sts-ca-file fail")
    assert line(out, "verdict ") == (
        "verdict mx1.ck6.test security mta-sts defer MTA-STS enforce: "
        "certificate does not match mx1.ck6.test: would defer")
    assert line(out, "result ").startswith("result defer")
    no_mail(peer)


# --------------------------------------------------------------------------
# --server, usage
# --------------------------------------------------------------------------

def test_server_by_name_and_by_address(conf, dns, smtp_peer, test_ca,
                                       netlab_port):
    """--server HOST:PORT: no MX lookup, the name is looked up as for a
    smarthost, SNI and the PKIX name are HOST (ok under the test CA); by
    address literal: no SNI, no DANE, and the certificate (names only)
    does not match the address; REQUIRETLS shows after STARTTLS."""
    cert, key = test_ca.leaf(["mx1.ck7.test"])
    peer = smtp_peer(ADDRS[37], cert=cert, key=key, requiretls=True)
    secure_mx(dns, "ck7.test", "mx1.ck7.test", ADDRS[37], zone="insecure")
    rc, out = tls_check(conf, "--server", "mx1.ck7.test:%d" % netlab_port)
    assert rc == 0, out
    assert line(out, "check ") == "check server mx1.ck7.test port %d" % (
        netlab_port)
    assert "mx-dnssec" not in out
    assert has(out, r"^host 0 mx1\.ck7\.test ok dnssec insecure")
    assert line(out, "pkix outbound-ca-file") == \
        "pkix outbound-ca-file ok mx1.ck7.test"
    assert line(out, "requiretls ") == "requiretls offered"
    assert line(out, "verdict ").startswith(
        "verdict mx1.ck7.test security opportunistic deliver")
    assert peer.sessions[-1].sni == "mx1.ck7.test"

    n = len(peer.sessions)
    rc, out = tls_check(conf, "--server", "%s:%d" % (ADDRS[37], netlab_port))
    assert rc == 0, out
    assert line(out, "tlsa ").startswith("tlsa %s not-asked" % ADDRS[37])
    assert line(out, "dane ").startswith("dane none")
    assert line(out, "pkix outbound-ca-file").startswith(
        "pkix outbound-ca-file fail")
    assert has(out, r"^  tls TLSv1\.[23] ")
    assert len(peer.sessions) == n + 1
    assert peer.sessions[-1].tls and peer.sessions[-1].sni is None
    no_mail(peer)


def test_hostile_peers(conf, smtp_peer, test_ca, netlab_port):
    """The peer is not trusted: an endless multi-line EHLO reply and a
    1 MiB reply line end the probe (bounded, a defer verdict); bytes
    injected after the 220 to STARTTLS are discarded before the
    handshake (RFC 3207 4.2), which then succeeds."""
    a = smtp_peer(ADDRS[38])
    a.on("ehlo", endless())
    rc, out = tls_check(conf, "--server", "%s:%d" % (ADDRS[38], netlab_port))
    assert rc == 1, out
    assert line(out, "error ehlo:").startswith("error ehlo: malformed reply")
    assert line(out, "verdict ").startswith(
        "verdict %s security opportunistic defer EHLO: " % ADDRS[38])

    a.clear_hooks()
    a.on("connect", long_line())
    rc, out = tls_check(conf, "--server", "%s:%d" % (ADDRS[38], netlab_port))
    assert rc == 1, out
    assert line(out, "error greeting:") == (
        "error greeting: reply line too long")

    cert, key = test_ca.leaf(["mx1.ck8.test"])
    b = smtp_peer(ADDRS[39], cert=cert, key=key)
    b.on("starttls", inject("220 2.0.0 go", b"250 injected\r\n"))
    rc, out = tls_check(conf, "--server", "%s:%d" % (ADDRS[39], netlab_port))
    assert rc == 0, out
    assert line(out, "discarded ") == (
        "discarded 14 bytes sent before the TLS handshake")
    assert has(out, r"^  tls TLSv1\.[23] ")
    assert has(out, r"^  ehlo-tls 250 ")
    no_mail(a)
    no_mail(b)


def test_usage(tmp_path):
    for args in ([], ["a.test", "b.test"], ["--server"],
                 ["a.test", "--server", "h:25"], ["--server", "h:0"],
                 ["--server", "[::1"], ["--bogus", "a.test"]):
        p = subprocess.run([PETREL_BIN, "tls-check"] + args,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert "usage:" in p.stderr
