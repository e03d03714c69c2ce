"""
`petrel resolve` end to end against a real authoritative server: NSD on a
loopback address and a free port, serving zones this file writes, two of
them signed with ldns-signzone (one then tampered with). petrel's resolver
forwards to it (dns-resolver ADDR@PORT) with the signed zones' DS records
as trust anchors. Covers MX preference order, implicit MX, null MX,
NXDOMAIN, a dead DNS server (temporary, fast), a secure zone and bogus
answers (temporary, never an A fallback).

The NSD setup is deliberately local to this file (the shared test-network
helper can replace it later). A system NSD on port 53 is left alone: ours
binds its own address and port.
"""
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import PETREL_BIN

NSD = shutil.which("nsd") or "/usr/sbin/nsd"
NS_ADDR = "127.0.53.77"
DEAD_ADDR = "127.0.53.78"

pytestmark = pytest.mark.skipif(
    not os.path.exists(NSD) or shutil.which("ldns-signzone") is None,
    reason="nsd and ldnsutils are needed")

SOA = "@ 300 IN SOA ns.{z}. admin.{z}. 1 3600 600 86400 300\n@ 300 IN NS ns.{z}.\nns 300 IN A %s\n" % NS_ADDR

ZONES = {
    "example.test": """
multi   MX 20 mx-c
multi   MX 10 mx-a
multi   MX 10 mx-b
multi   MX 5 192.0.2.99.
multi   MX 30 mx-a
mx-a    A 192.0.2.1
mx-a    AAAA 2001:db8::1
mx-a    AAAA 2001:db8::2
mx-b    A 192.0.2.2
mx-c    A 192.0.2.3
implicit A 192.0.2.10
implicit AAAA 2001:db8::10
alias   CNAME implicit
nullmx  MX 0 .
nullmx  A 192.0.2.66
nohost  MX 10 nowhere
nodata  TXT "nothing here"
halfbad MX 10 nowhere
halfbad MX 20 mx-b
""",
    "signed.test": """
@       MX 10 mx
mx      A 192.0.2.20
mx      AAAA 2001:db8::20
""",
    "bogus.test": """
@       MX 10 mx
@       A 192.0.2.30
mx      A 192.0.2.31
hostbad MX 10 mx2
mx2     A 192.0.2.32
""",
}


def free_udp_tcp_port(addr):
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, 0))
        port = s.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind((addr, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
            t.close()
    raise RuntimeError("no free port")


def run(cmd, cwd=None):
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def sign(d, zone):
    """Signs d/zone.zone with a fresh key; returns the DS record text."""
    base = run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", zone],
               cwd=d).strip()
    run(["ldns-signzone", "-o", zone, "-f", "%s.zone.signed" % zone,
         "%s.zone" % zone, base], cwd=d)
    ds = run(["ldns-key2ds", "-n", "-2", base + ".key"], cwd=d).strip()
    assert " DS " in ds.replace("\t", " ")
    return ds


def tamper(path, old, new):
    with open(path) as f:
        text = f.read()
    text2, n = re.subn(old, new, text)
    assert n == 1, (old, text)
    with open(path, "w") as f:
        f.write(text2)


def dns_answers(addr, port):
    """True once the server answers a SOA query over UDP."""
    q = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
         b"\x07example\x04test\x00\x00\x06\x00\x01")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    try:
        s.sendto(q, (addr, port))
        data = s.recv(512)
        return data[:2] == b"\x12\x34"
    except OSError:
        return False
    finally:
        s.close()


@pytest.fixture(scope="module")
def dnsnet(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("dns"))
    port = free_udp_tcp_port(NS_ADDR)
    for z, body in ZONES.items():
        with open(os.path.join(d, z + ".zone"), "w") as f:
            f.write("$ORIGIN %s.\n$TTL 300\n" % z + SOA.format(z=z) + body)
    ds = [sign(d, "signed.test"), sign(d, "bogus.test")]
    # After signing: the apex MX of bogus.test and the address of its
    # mx2 change, so their signatures no longer match.
    signed = os.path.join(d, "bogus.test.zone.signed")
    tamper(signed, r"(bogus\.test\.\s+300\s+IN\s+MX\s+)10 mx\.bogus\.test\.",
           r"\g<1>10 evil.bogus.test.")
    tamper(signed, r"192\.0\.2\.32", "192.0.2.66")
    zones = "".join(
        "zone:\n  name: %s\n  zonefile: %s\n" % (
            z, z + ".zone.signed" if z != "example.test" else z + ".zone")
        for z in ZONES)
    conf = os.path.join(d, "nsd.conf")
    with open(conf, "w") as f:
        f.write("""server:
  ip-address: {addr}@{port}
  zonesdir: "{d}"
  pidfile: "{d}/nsd.pid"
  username: ""
  database: ""
  chroot: ""
  xfrdfile: "{d}/xfrd.state"
  zonelistfile: "{d}/zone.list"
  logfile: "{d}/nsd.log"
  server-count: 1
  verbosity: 1
remote-control:
  control-enable: no
{zones}""".format(addr=NS_ADDR, port=port, d=d, zones=zones))
    proc = subprocess.Popen([NSD, "-d", "-c", conf],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while not dns_answers(NS_ADDR, port):
        if proc.poll() is not None or time.time() > deadline:
            log = open(os.path.join(d, "nsd.log")).read() \
                if os.path.exists(os.path.join(d, "nsd.log")) else ""
            proc.kill()
            pytest.fail("nsd did not start: %s" % log)
        time.sleep(0.05)
    ta = os.path.join(d, "trust-anchors")
    with open(ta, "w") as f:
        f.write("; test zones\n" + "\n".join(ds) + "\n")
    yield {"dir": d, "port": port, "ta": ta}
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def write_conf(dnsnet, name, server=None, ta=True, extra=()):
    path = os.path.join(dnsnet["dir"], name + ".conf")
    lines = [
        "state-dir %s" % os.path.join(dnsnet["dir"], "state-" + name),
        "dns-resolver %s" % (server or "%s@%d" % (NS_ADDR, dnsnet["port"])),
        "dns-trust-anchor %s" % (dnsnet["ta"] if ta else "none"),
        'dns-option local-zone "test. transparent"',
    ] + list(extra)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def resolve(conf, name, *args):
    p = subprocess.run([PETREL_BIN, "resolve", name, "--config", conf] +
                       list(args), capture_output=True, text=True,
                       timeout=120)
    assert "AddressSanitizer" not in p.stderr, p.stderr
    assert "runtime error" not in p.stderr, p.stderr
    return p.returncode, p.stdout


def hosts(out):
    """[(pref, name, status, rest-of-line, [addresses], error)]"""
    res = []
    for line in out.splitlines():
        w = line.split()
        if w[0] == "host":
            res.append([int(w[1]), w[2], w[3], line, [], None])
        elif w[0] == "address":
            res[-1][4].append(w[1])
        elif w[0] == "error":
            res[-1][5] = line.split(" ", 3)[-1]
    return res


def route(out):
    return [l for l in out.splitlines() if l.startswith("route ")][0]


@pytest.fixture(scope="module")
def conf(dnsnet):
    return write_conf(dnsnet, "main")


def test_mx_preference_order(conf):
    seen = set()
    for _ in range(12):
        rc, out = resolve(conf, "multi.example.test")
        assert rc == 0, out
        assert "domain multi.example.test mx-dnssec insecure\n" in out
        h = hosts(out)
        # the IP-literal target is skipped, mx-a appears once (pref 10)
        assert [x[0] for x in h] == [10, 10, 20]
        assert sorted(x[1] for x in h[:2]) == ["mx-a.example.test",
                                              "mx-b.example.test"]
        assert h[2][1] == "mx-c.example.test"
        seen.add(h[0][1])
        a = [x for x in h if x[1] == "mx-a.example.test"][0]
        # IPv6 first, then the families alternate
        assert a[4] == ["2001:db8::1", "192.0.2.1", "2001:db8::2"] or \
            a[4] == ["2001:db8::2", "192.0.2.1", "2001:db8::1"]
        assert " ok dnssec insecure a insecure aaaa insecure" in a[3]
        assert route(out) == "route ok"
        if len(seen) == 2:
            break
    # random order among equal preferences: both came first at some point
    assert len(seen) == 2


def test_implicit_mx(conf):
    rc, out = resolve(conf, "implicit.example.test")
    assert rc == 0, out
    assert "implicit-mx" in out.splitlines()[0]
    h = hosts(out)
    assert len(h) == 1 and h[0][0] == 0 and h[0][1] == "implicit.example.test"
    assert h[0][4] == ["2001:db8::10", "192.0.2.10"]


def test_cname_followed(conf):
    rc, out = resolve(conf, "alias.example.test")
    assert rc == 0, out
    first = out.splitlines()[0]
    assert "canonical implicit.example.test" in first
    assert "implicit-mx" in first
    h = hosts(out)
    assert h[0][1] == "alias.example.test"
    assert "canonical implicit.example.test" in h[0][3]
    assert h[0][4] == ["2001:db8::10", "192.0.2.10"]


def test_null_mx(conf):
    rc, out = resolve(conf, "nullmx.example.test")
    assert rc == 1
    assert route(out) == ("route error permanent 5.1.10 nullmx.example.test:"
                          " domain does not accept mail (null MX)")
    assert hosts(out) == []     # its A record is never used


def test_nxdomain(conf):
    rc, out = resolve(conf, "nonexistent.example.test")
    assert rc == 1
    assert route(out) == ("route error permanent 5.1.2 "
                          "nonexistent.example.test: no such domain")


def test_no_address(conf):
    rc, out = resolve(conf, "nodata.example.test")
    assert rc == 1
    assert route(out).startswith("route error permanent 5.4.4 "
                                 "nodata.example.test has no MX and no "
                                 "address records")
    rc, out = resolve(conf, "nohost.example.test")
    assert rc == 1
    assert route(out).startswith("route error permanent 5.4.4 ")
    assert "nowhere.example.test: no such host" in out


def test_host_without_address_is_kept(conf):
    rc, out = resolve(conf, "halfbad.example.test")
    assert rc == 0, out
    h = hosts(out)
    assert [(x[1], x[2]) for x in h] == [
        ("nowhere.example.test", "permanent"), ("mx-b.example.test", "ok")]
    assert "no such host" in h[0][5]


def test_host_mode(conf):
    rc, out = resolve(conf, "mx-a.example.test", "--host")
    assert rc == 0, out
    assert not out.startswith("domain")
    h = hosts(out)
    assert h[0][1] == "mx-a.example.test"
    assert sorted(h[0][4]) == ["192.0.2.1", "2001:db8::1", "2001:db8::2"]


def test_invalid_domain(conf):
    rc, out = resolve(conf, "bad..name")
    assert rc == 1
    assert route(out).startswith("route error permanent 5.1.2 invalid")


def test_signed_zone_is_secure(conf):
    rc, out = resolve(conf, "signed.test")
    assert rc == 0, out
    assert out.splitlines()[0] == "domain signed.test mx-dnssec secure"
    h = hosts(out)
    assert h[0][1] == "mx.signed.test"
    assert " ok dnssec secure a secure aaaa secure" in h[0][3]
    assert h[0][4] == ["2001:db8::20", "192.0.2.20"]


def test_signed_zone_without_trust_anchor_is_insecure(dnsnet):
    rc, out = resolve(write_conf(dnsnet, "nota", ta=False), "signed.test")
    assert rc == 0, out
    assert out.splitlines()[0] == "domain signed.test mx-dnssec insecure"
    assert " dnssec insecure " in hosts(out)[0][3]


def test_bogus_mx_defers_without_a_fallback(conf):
    rc, out = resolve(conf, "bogus.test")
    assert rc == 1
    assert out.splitlines()[0] == "domain bogus.test mx-dnssec bogus"
    assert route(out).startswith(
        "route error temporary 4.4.3 MX lookup of bogus.test: DNSSEC "
        "validation failed")
    assert hosts(out) == []     # the apex A record is not used
    assert "192.0.2.30" not in out


def test_bogus_address_defers(conf):
    rc, out = resolve(conf, "hostbad.bogus.test")
    assert rc == 1
    assert "mx-dnssec secure" in out.splitlines()[0]
    h = hosts(out)
    assert h[0][1] == "mx2.bogus.test" and h[0][2] == "temporary"
    assert " dnssec bogus a bogus " in h[0][3]
    assert h[0][4] == []
    assert "DNSSEC validation failed" in h[0][5]
    assert route(out).startswith("route error temporary 4.4.3 ")
    assert "192.0.2.66" not in out


def test_dead_dns_server_is_temporary_and_fast(dnsnet):
    port = free_udp_tcp_port(DEAD_ADDR)
    # infra-cache-max-rtt below unbound's 376 ms guess for a server it
    # does not know yet makes a dead server fail fast; it also makes
    # parallel questions to a live but new server fail while the first
    # is out (SERVFAIL), so only this test sets it.
    c = write_conf(dnsnet, "dead", server="%s@%d" % (DEAD_ADDR, port),
                   extra=["dns-option infra-cache-max-rtt 100"])
    t0 = time.monotonic()
    rc, out = resolve(c, "multi.example.test")
    took = time.monotonic() - t0
    assert rc == 1
    assert route(out).startswith("route error temporary 4.4.3 "), out
    assert took < 15, took


def test_bad_option_is_named(dnsnet):
    c = write_conf(dnsnet, "badopt", extra=["dns-option no-such-option 1"])
    p = subprocess.run([PETREL_BIN, "resolve", "x.test", "--config", c],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "dns-option no-such-option" in p.stderr


def test_bad_trust_anchor_is_named(dnsnet):
    ta = os.path.join(dnsnet["dir"], "bad-ta")
    with open(ta, "w") as f:
        f.write("; comment\n. IN DS 1 2 3 zz-not-hex\n")
    c = write_conf(dnsnet, "badta")
    with open(c) as f:
        text = f.read().replace(dnsnet["ta"], ta)
    with open(c, "w") as f:
        f.write(text)
    p = subprocess.run([PETREL_BIN, "resolve", "x.test", "--config", c],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "trust anchor line 2" in p.stderr, p.stderr
