"""
MTA-STS discovery and policy fetching (RFC 8461 3.1-3.4, 5, 10) end to
end through `petrel resolve --sts DOMAIN`, which runs the remote
process's fetcher (src/remote/sts.c) with the daemon's resolver: the TXT
record and the address of mta-sts.DOMAIN come from netlab's NSD, the
policy from a small HTTPS server in this file (Python ssl + http.server
in a thread on 127.0.46.1, certificates from netlab's TestCA; a request
for mta-sts.wrongcert.test gets a certificate for another name through
SNI). Each domain's reply (status, Content-Type, body, redirect, delay)
is scripted per Host header, and the server records every request, so
the tests can also check that nothing was fetched when the cache
answered, and that a redirect was not followed.

Covered: enforce and testing policies, no record, an invalid record,
404, a wrong Content-Type, a redirect, a wrong certificate name, an
untrusted certificate, oversize bodies (with and without
Content-Length), an invalid policy, a stalled server (timeout), a dead
server with and without a cached policy, a cached policy reused while
the id is unchanged and replaced when it changes, and the daemon's cache
directory read without being written.
"""
import http.server
import os
import shutil
import ssl
import subprocess
import threading
import time

import pytest

pytest.register_assert_rewrite("netlab")
from conftest import PETREL_BIN  # noqa: E402
from netlab import free_port  # noqa: E402

pytest_plugins = ["netlab"]

HTTPS_ADDR = "127.0.46.1"
DEAD_ADDR = "127.0.46.2"       # nothing listens here
POLICY_MAX = 65536

ENFORCE = ("version: STSv1\r\nmode: enforce\r\nmx: mx1.enforce.test\r\n"
           "mx: *.mx.enforce.test\r\nmax_age: 604800\r\n")
TESTING = "version: STSv1\nmode: testing\nmx: mx.testing.test\nmax_age: 86400\n"


class PolicyServer:
    """HTTPS on HTTPS_ADDR:port; routes[host] = dict(status, ctype, body,
    length, location, delay); requests = [(host, path)]."""

    def __init__(self, ca):
        self.routes = {}
        self.requests = []
        self.lock = threading.Lock()
        self.port = free_port([HTTPS_ADDR])
        self.names = []
        self.good = None
        self.wrong = None
        self.ca = ca
        self.httpd = None
        self.thread = None

    def contexts(self, names):
        cert, key = self.ca.leaf(names)
        good = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        good.minimum_version = ssl.TLSVersion.TLSv1_2
        good.load_cert_chain(cert, key)
        cert, key = self.ca.leaf(["mta-sts.other.test"])
        wrong = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        wrong.load_cert_chain(cert, key)
        cert, key = self.ca.self_signed(["mta-sts.selfsigned.test"])
        selfs = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        selfs.load_cert_chain(cert, key)

        def sni(sock, name, ctx):
            if name == "mta-sts.wrongcert.test":
                sock.context = wrong
            elif name == "mta-sts.selfsigned.test":
                sock.context = selfs
        good.sni_callback = sni
        return good

    def start(self, names):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                host = (self.headers.get("Host") or "").split(":")[0]
                with server.lock:
                    server.requests.append((host, self.path))
                    r = dict(server.routes.get(host, {"status": 404}))
                if r.get("delay"):
                    time.sleep(r["delay"])
                body = r.get("body", b"")
                if isinstance(body, str):
                    body = body.encode()
                if self.path != "/.well-known/mta-sts.txt":
                    r = {"status": 404}
                    body = b""
                self.send_response(r.get("status", 200))
                self.send_header("Content-Type",
                                 r.get("ctype", "text/plain"))
                if r.get("location"):
                    self.send_header("Location", r["location"])
                if r.get("length", True):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

        ctx = self.contexts(names)
        self.httpd = http.server.ThreadingHTTPServer(
            (HTTPS_ADDR, self.port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                            server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(10)
            self.httpd = None

    def fetches(self, host):
        with self.lock:
            return [r for r in self.requests if r[0] == host]


DOMAINS = ["enforce.test", "testing.test", "notfound.test", "html.test",
           "redirect.test", "wrongcert.test", "selfsigned.test",
           "big.test", "bigstream.test", "invalid.test", "stall.test",
           "cache.test", "state.test", "down.test", "target.test"]


@pytest.fixture(scope="module")
def policy_server(test_ca):
    s = PolicyServer(test_ca)
    s.start(["mta-sts." + d for d in DOMAINS])
    yield s
    s.stop()


@pytest.fixture
def server(policy_server):
    with policy_server.lock:
        policy_server.routes.clear()
        policy_server.requests.clear()
    return policy_server


@pytest.fixture
def conf(tmp_path, dns, test_ca):
    path = tmp_path / "petrel.conf"
    lines = ["state-dir %s" % (tmp_path / "state")] + dns.petrel_conf() + [
        "mta-sts-ca-file %s" % test_ca.ca_file]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def publish(dns, domain, txt="v=STSv1; id=1", addr=HTTPS_ADDR):
    with dns.batch():
        if txt is not None:
            dns.txt("_mta-sts." + domain, txt)
        if addr is not None:
            dns.a("mta-sts." + domain, addr)


def sts(conf, server, domain, *args, timeout=5):
    cmd = [PETREL_BIN, "resolve", "--sts", domain, "--config", conf,
           "--sts-port", str(server.port), "--sts-timeout", str(timeout)]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True,
                       timeout=120)
    assert "Sanitizer" not in p.stderr, p.stderr
    assert "runtime error" not in p.stderr, p.stderr
    lines = p.stdout.splitlines()
    assert lines and lines[-1].startswith("sts "), (p.stdout, p.stderr)
    return p.returncode, p.stdout


def field(out, word):
    """The rest of the first line starting with word, or None."""
    for line in out.splitlines():
        if line.startswith(word + " "):
            return line[len(word) + 1:]
    return None


def policy_lines(out):
    return [l.strip() for l in out.splitlines() if l.startswith("  ")]


def test_enforce_policy(conf, dns, server):
    publish(dns, "enforce.test", "v=STSv1; id=20160831085700Z;")
    server.routes["mta-sts.enforce.test"] = {"body": ENFORCE}
    rc, out = sts(conf, server, "enforce.test")
    assert rc == 0, out
    assert field(out, "sts") == "ok"
    assert field(out, "mta-sts") == "enforce.test id 20160831085700Z"
    assert field(out, "policy").startswith("fresh fetched ")
    assert policy_lines(out) == [
        "version: STSv1", "mode: enforce", "mx: mx1.enforce.test",
        "mx: *.mx.enforce.test", "max_age: 604800"]
    assert field(out, "failure") is None
    assert server.fetches("mta-sts.enforce.test") == [
        ("mta-sts.enforce.test", "/.well-known/mta-sts.txt")]
    # the daemon's cache does not exist: an empty memory cache
    assert field(out, "cache").startswith("memory")


def test_testing_policy_any_case(conf, dns, server):
    publish(dns, "testing.test", "v=STSv1; id=abc")
    server.routes["mta-sts.testing.test"] = {
        "body": TESTING, "ctype": "TEXT/Plain; charset=utf-8"}
    rc, out = sts(conf, server, "Testing.TEST.")
    assert rc == 0, out
    assert field(out, "mta-sts") == "testing.test id abc"
    assert field(out, "sts") == "ok"
    assert "mode: testing" in policy_lines(out)
    assert "mx: mx.testing.test" in policy_lines(out)


def test_no_record_and_invalid_record(conf, dns, server):
    with dns.batch():
        dns.a("mta-sts.none.test", HTTPS_ADDR)
        dns.txt("_mta-sts.bad.test", "v=STSv1; id=not-alnum")
        dns.txt("_mta-sts.two.test", "v=STSv1; id=1")
        dns.txt("_mta-sts.two.test", "v=STSv1; id=2")
        dns.txt("_mta-sts.other.test", "v=spf1 -all")
    rc, out = sts(conf, server, "none.test")
    assert rc == 0 and field(out, "sts") == "none", out
    assert field(out, "mta-sts") == "none.test id -"
    rc, out = sts(conf, server, "bad.test")
    assert rc == 0 and field(out, "sts") == "none", out
    assert "invalid record" in field(out, "error")
    rc, out = sts(conf, server, "two.test")
    assert rc == 0 and field(out, "sts") == "none", out
    assert "several" in field(out, "error")
    rc, out = sts(conf, server, "other.test")
    assert rc == 0 and field(out, "sts") == "none", out
    assert server.requests == []


@pytest.mark.parametrize("domain,route,failure,text", [
    ("notfound.test", {"status": 404, "body": "no"},
     "sts-policy-fetch-error", "HTTP status 404"),
    ("html.test", {"body": ENFORCE, "ctype": "text/html"},
     "sts-policy-fetch-error", "Content-Type text/html, not text/plain"),
    ("big.test", {"body": ENFORCE + "x: " + "y" * POLICY_MAX + "\n"},
     "sts-policy-fetch-error", "larger than 65536 bytes"),
    ("bigstream.test", {"body": ENFORCE + "x: " + "y" * POLICY_MAX + "\n",
                        "length": False},
     "sts-policy-fetch-error", "larger than 65536 bytes"),
    ("invalid.test", {"body": "version: STSv1\nmode: enforce\nmax_age: 1\n"},
     "sts-policy-invalid", "invalid policy: no mx field"),
])
def test_fetch_failures(conf, dns, server, domain, route, failure, text):
    publish(dns, domain)
    server.routes["mta-sts." + domain] = route
    rc, out = sts(conf, server, domain)
    assert rc == 1, out
    assert field(out, "sts") == "fail"
    assert field(out, "mta-sts") == domain + " id 1"
    f = field(out, "failure")
    assert f.startswith(failure + " "), out
    assert text in f, out
    assert policy_lines(out) == []


def test_redirect_not_followed(conf, dns, server):
    with dns.batch():
        publish(dns, "redirect.test")
        publish(dns, "target.test")
    target = "https://mta-sts.target.test:%d/.well-known/mta-sts.txt" % (
        server.port)
    server.routes["mta-sts.redirect.test"] = {
        "status": 301, "location": target, "body": ""}
    server.routes["mta-sts.target.test"] = {"body": ENFORCE}
    rc, out = sts(conf, server, "redirect.test")
    assert rc == 1 and field(out, "sts") == "fail", out
    assert "HTTP status 301 (redirects are not followed)" in field(
        out, "failure")
    assert server.fetches("mta-sts.target.test") == []
    assert len(server.fetches("mta-sts.redirect.test")) == 1


@pytest.mark.parametrize("domain", ["wrongcert.test", "selfsigned.test"])
def test_certificate_refused(conf, dns, server, domain):
    publish(dns, domain)
    server.routes["mta-sts." + domain] = {"body": ENFORCE}
    rc, out = sts(conf, server, domain)
    assert rc == 1 and field(out, "sts") == "fail", out
    assert field(out, "failure").startswith("sts-webpki-invalid "), out
    # the handshake failed: no request was made
    assert server.fetches("mta-sts." + domain) == []


def test_stalled_server_times_out(conf, dns, server):
    publish(dns, "stall.test")
    server.routes["mta-sts.stall.test"] = {"body": ENFORCE, "delay": 4}
    t0 = time.monotonic()
    rc, out = sts(conf, server, "stall.test", timeout=1)
    assert time.monotonic() - t0 < 4
    assert rc == 1 and field(out, "sts") == "fail", out
    assert field(out, "failure").startswith("sts-policy-fetch-error "), out
    assert "imeout" in field(out, "failure") or \
        "timed out" in field(out, "failure"), out


def test_server_down_without_cache(conf, dns, server):
    publish(dns, "down.test", addr=DEAD_ADDR)
    rc, out = sts(conf, server, "down.test")
    assert rc == 1 and field(out, "sts") == "fail", out
    assert field(out, "failure").startswith("sts-policy-fetch-error "), out
    # no address at all for mta-sts.DOMAIN
    publish(dns, "noaddr.test", addr=None)
    rc, out = sts(conf, server, "noaddr.test")
    assert rc == 1 and field(out, "sts") == "fail", out
    assert "no address" in field(out, "failure"), out


def test_cache_reused_refreshed_and_kept(conf, dns, server, tmp_path):
    cache = str(tmp_path / "cache")
    publish(dns, "cache.test", "v=STSv1; id=1")
    server.routes["mta-sts.cache.test"] = {"body": ENFORCE}
    rc, out = sts(conf, server, "cache.test", "--sts-cache", cache)
    assert rc == 0 and field(out, "policy").startswith("fresh "), out
    assert os.path.exists(os.path.join(cache, "cache.test"))
    assert len(server.fetches("mta-sts.cache.test")) == 1

    # the same id: served from the cache, nothing fetched
    rc, out = sts(conf, server, "cache.test", "--sts-cache", cache)
    assert rc == 0 and field(out, "policy").startswith("cached "), out
    assert "mode: enforce" in policy_lines(out)
    assert len(server.fetches("mta-sts.cache.test")) == 1

    # a new id: fetched again, the new policy replaces the old one
    dns.remove("_mta-sts.cache.test", "TXT")
    dns.txt("_mta-sts.cache.test", "v=STSv1; id=2")
    server.routes["mta-sts.cache.test"] = {"body": TESTING}
    rc, out = sts(conf, server, "cache.test", "--sts-cache", cache)
    assert rc == 0 and field(out, "policy").startswith("fresh "), out
    assert field(out, "mta-sts") == "cache.test id 2"
    assert "mode: testing" in policy_lines(out)
    assert len(server.fetches("mta-sts.cache.test")) == 2

    # id 3 but the server is down: the cached policy (id 2) is used and
    # the failure reported (RFC 8461 3.3)
    with dns.batch():
        dns.remove("_mta-sts.cache.test", "TXT")
        dns.txt("_mta-sts.cache.test", "v=STSv1; id=3")
        dns.remove("mta-sts.cache.test", "A")
        dns.a("mta-sts.cache.test", DEAD_ADDR)
    rc, out = sts(conf, server, "cache.test", "--sts-cache", cache)
    assert rc == 0 and field(out, "sts") == "ok", out
    assert field(out, "policy").startswith("cached "), out
    assert field(out, "mta-sts") == "cache.test id 2"
    assert "mode: testing" in policy_lines(out)
    assert field(out, "failure").startswith("sts-policy-fetch-error "), out

    # the TXT record disappears: the cached policy still applies (5.1)
    dns.remove("_mta-sts.cache.test", "TXT")
    rc, out = sts(conf, server, "cache.test", "--sts-cache", cache)
    assert rc == 0 and field(out, "sts") == "ok", out
    assert field(out, "policy").startswith("cached "), out

    # without the cache the same situation is a failure / no policy
    rc, out = sts(conf, server, "cache.test")
    assert field(out, "sts") == "none", out


def test_daemon_cache_read_only(conf, dns, server, tmp_path):
    """Without --sts-cache, STATE/remote/sts is read, never written."""
    cache = str(tmp_path / "fill")
    publish(dns, "state.test", "v=STSv1; id=7")
    server.routes["mta-sts.state.test"] = {"body": ENFORCE}
    rc, out = sts(conf, server, "state.test", "--sts-cache", cache)
    assert rc == 0 and field(out, "policy").startswith("fresh "), out
    stsdir = tmp_path / "state" / "remote" / "sts"
    stsdir.mkdir(parents=True)
    shutil.copy(os.path.join(cache, "state.test"), str(stsdir))
    # a corrupt file and a stray name are skipped, not removed
    (stsdir / "broken.test").write_text("petrel-sts-cache 1\ndomain x\n")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in stsdir.iterdir())

    rc, out = sts(conf, server, "state.test")
    assert field(out, "cache") == "%s read-only 1" % stsdir, out
    assert rc == 0 and field(out, "policy").startswith("cached "), out
    assert len(server.fetches("mta-sts.state.test")) == 1

    # a new id that cannot be fetched: the cached policy, not written
    with dns.batch():
        dns.remove("_mta-sts.state.test", "TXT")
        dns.txt("_mta-sts.state.test", "v=STSv1; id=8")
    server.routes["mta-sts.state.test"] = {"status": 500}
    rc, out = sts(conf, server, "state.test")
    assert rc == 0 and field(out, "policy").startswith("cached "), out
    assert "HTTP status 500" in field(out, "failure")
    # and a fetch that works does not write there either
    server.routes["mta-sts.state.test"] = {"body": TESTING}
    rc, out = sts(conf, server, "state.test")
    assert rc == 0 and field(out, "policy").startswith("fresh "), out
    after = sorted((p.name, p.stat().st_mtime_ns) for p in stsdir.iterdir())
    assert before == after
