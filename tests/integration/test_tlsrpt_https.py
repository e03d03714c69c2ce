"""
TLS-RPT reports to https: destinations (RFC 8460 5.4) end to end: a real
`petrel serve` delivers over DANE to a peer on the netlab test network,
then `petrel tls report` sends the report for the policy domain to the
rua of its `_smtp._tls` record. The https: destination is ReportServer, a
small HTTPS server in this file (Python ssl + http.server in threads,
certificate from netlab's TestCA, on a high port: the URL's own port is
used) that records every request; petrel checks its certificate against
the test CA (outbound-ca-file).

What the receiver got is asserted first (method, path, Content-Type
application/tlsrpt+gzip, a body that gunzips to the RFC 8460 JSON with
the right policy-domain and counts), petrel's log lines second
(`action=posted status=N`, `action=failed`).
"""
import email
import gzip
import http.server
import json
import re
import ssl
import subprocess
import threading
import time

import pytest

pytest.register_assert_rewrite("netlab")
from conftest import make_message  # noqa: E402
from netlab import ADDRS, free_port  # noqa: E402

pytest_plugins = ["netlab"]

SENDER = "alice@example.test"
WAIT = 60              # seconds: deliveries, reports
HTTPS_ADDR = "127.0.46.1"   # ReportServer (a high port, free on it)
RPT_HOST = "rpt.collect.test"
RPT_PATH = "/tlsrpt/v1/submit"


class ReportRequest:
    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = \
            method, path, headers, body

    def __repr__(self):
        return "<%s %s %s %d bytes>" % (self.method, self.path,
                                        self.headers.get("Content-Type"),
                                        len(self.body))


class ReportServer:
    """An HTTPS server on addr:port answering every POST with `status`
    (an attribute the test may change) and recording it in `requests`;
    `tls_errors` counts handshakes that failed."""

    def __init__(self, addr, port, cert, key, status=200):
        self.addr, self.port, self.status = addr, port, status
        self.requests = []
        self.tls_errors = 0
        self._cond = threading.Condition()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def log_message(self, *a):
                pass

            def _answer(self, status):
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n) if n > 0 else b""
                with outer._cond:
                    outer.requests.append(ReportRequest(
                        "POST", self.path, dict(self.headers), body))
                    outer._cond.notify_all()
                self._answer(outer.status)

            def do_GET(self):
                self._answer(405)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request, client_address):
                # the handshake in the connection's own thread
                request.settimeout(30)
                try:
                    tls = ctx.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    with outer._cond:
                        outer.tls_errors += 1
                        outer._cond.notify_all()
                    return
                try:
                    Handler(tls, client_address, self)
                finally:
                    tls.close()

            def handle_error(self, request, client_address):
                pass

        self._srv = Server((addr, port), Handler)
        self._thread = threading.Thread(target=self._srv.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        daemon=True)
        self._thread.start()

    def url(self, host=RPT_HOST, path=RPT_PATH):
        return "https://%s:%d%s" % (host, self.port, path)

    def wait_for(self, cond, timeout=WAIT):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not cond(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail("ReportServer: condition not met; "
                                "requests %r, TLS errors %d" %
                                (self.requests, self.tls_errors))
                self._cond.wait(min(left, 0.5))

    def stop(self):
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(5)


@pytest.fixture
def report_server(test_ca):
    """report_server(status=200, cert=None) -> a started ReportServer for
    RPT_HOST on a free high port of HTTPS_ADDR, stopped after the test."""
    servers = []

    def make(status=200, cert=None):
        if cert is None:
            cert = test_ca.leaf([RPT_HOST])
        port = free_port([HTTPS_ADDR])
        srv = ReportServer(HTTPS_ADDR, port, cert[0], cert[1], status)
        servers.append(srv)
        return srv

    yield make
    for s in servers:
        s.stop()


def relay_conf(dns, port, test_ca, *more):
    """petrel relays for 127.0.0.0/8 to port `port` of every MX through
    the test DNS (DANE on), checks https: report destinations against the
    test CA, sends TLS-RPT reports as tls@example.test."""
    return dns.petrel_conf() + [
        "relay-from 127.0.0.0/8",
        "remote-port %d" % port,
        "retry-min 1s",
        "retry-max 2s",
        "outbound-ca-file %s" % test_ca.ca_file,
        "tlsrpt yes",
        "tlsrpt-contact tls@example.test",
    ] + list(more)


def dane_domain(dns, test_ca, smtp_peer, domain, addr, rua):
    """domain (a secure zone) with one DANE MX host on addr (a started
    peer with a matching certificate), TLS-RPT record `rua`, and the
    collector's host RPT_HOST -> HTTPS_ADDR. Returns the peer."""
    mx = "mx." + domain
    cert, key = test_ca.leaf([mx])
    peer = smtp_peer(addr, cert=cert, key=key)
    with dns.batch():
        dns.zone(domain)
        dns.mx(domain, mx)
        dns.a(mx, addr)
        dns.dane(mx, cert)
        dns.tlsrpt(domain, rua)
        dns.zone("collect.test")
        dns.a(RPT_HOST, HTTPS_ADDR)
    return peer


def deliver_one(p, peer, rcpt):
    """Sends one message to rcpt and waits until peer has it over TLS and
    petrel's queue is empty. Returns the number of TLS sessions that
    carried a transaction (what the report must count as successes)."""
    p.send([rcpt], sender=SENDER,
           msg=make_message(subject="for the report", to=rcpt,
                            sender=SENDER))
    m, = peer.wait_for_messages(1, timeout=WAIT)
    assert m.session.tls
    p.wait_queue_empty()
    return len([s for s in peer.sessions if s.tls and s.transactions])


def tls_report(p):
    """`petrel tls report`: returns its stdout (it returns when the run,
    POSTs included, has finished)."""
    r = subprocess.run([p.bin, "tls", "report", "--config", p.conf_path],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r.stdout


def wait_log(p, pattern, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not re.search(pattern, p.log()):
        if time.monotonic() > deadline:
            pytest.fail("no log line matching %r; log:\n%s" %
                        (pattern, p.log_tail(60)))
        time.sleep(0.1)
    return re.search(pattern, p.log()).group(0)


def check_report(req, domain, ok):
    """req is an RFC 8460 5.4 POST of the report for domain with `ok`
    successful sessions and no failures."""
    assert req.method == "POST"
    assert req.path == RPT_PATH
    assert req.headers.get("Content-Type") == "application/tlsrpt+gzip"
    rep = json.loads(gzip.decompress(req.body))
    for k in ("organization-name", "date-range", "contact-info",
              "report-id", "policies"):
        assert k in rep, rep
    assert "tls@example.test" in rep["contact-info"]
    pols = [x for x in rep["policies"]
            if x["policy"]["policy-domain"] == domain]
    assert pols, rep
    assert {x["policy"]["policy-type"] for x in pols} == {"tlsa"}
    succ = sum(x["summary"]["total-successful-session-count"] for x in pols)
    fail = sum(x["summary"]["total-failure-session-count"] for x in pols)
    assert (succ, fail) == (ok, 0), rep
    return rep


def test_https_report_posted(petrel_factory, dns, smtp_peer, test_ca,
                             netlab_port, report_server):
    """An https: rua on a high port gets one POST of the gzip'd JSON
    report, Content-Type application/tlsrpt+gzip, to the URL's path, with
    the counts of the DANE sessions petrel made; logged as posted with
    the status."""
    srv = report_server()
    url = srv.url()
    peer = dane_domain(dns, test_ca, smtp_peer, "hr1.test", ADDRS[31], url)
    p = petrel_factory(extra=relay_conf(dns, netlab_port, test_ca))
    ok = deliver_one(p, peer, "bob@hr1.test")
    assert ok >= 1
    out = tls_report(p)
    srv.wait_for(lambda s: len(s.requests) >= 1)
    req, = srv.requests
    rep = check_report(req, "hr1.test", ok)
    line = wait_log(p, r"tlsrpt: domain=hr1\.test period=\S+ to=%s "
                       r"report-id=(\S+) action=posted status=200"
                    % re.escape(url))
    assert rep["report-id"] in line
    assert re.search(r"\b1 report", out), out
    # reported once: a second run posts nothing for the same counts
    tls_report(p)
    time.sleep(0.5)
    assert len(srv.requests) == 1, srv.requests


def test_https_report_500_failed(petrel_factory, dns, smtp_peer, test_ca,
                                 netlab_port, report_server):
    """A destination answering 500 took nothing: the POST is logged as
    failed with the status (not retried), the report as undelivered, and
    petrel goes on working (the next delivery, the next report run)."""
    srv = report_server(status=500)
    url = srv.url()
    peer = dane_domain(dns, test_ca, smtp_peer, "hr2.test", ADDRS[32], url)
    p = petrel_factory(extra=relay_conf(dns, netlab_port, test_ca))
    deliver_one(p, peer, "bob@hr2.test")
    out = tls_report(p)
    assert re.search(r"\b0 reports", out), out
    srv.wait_for(lambda s: len(s.requests) >= 1)
    assert len(srv.requests) == 1, srv.requests
    assert srv.requests[0].headers.get("Content-Type") == \
        "application/tlsrpt+gzip"
    wait_log(p, r"tlsrpt: domain=hr2\.test period=\S+ to=%s "
                r"report-id=\S+ action=failed status=500 "
                r"reason=\"HTTP status 500\"" % re.escape(url))
    wait_log(p, r"tlsrpt: domain=hr2\.test period=\S+ report-id=\S+ "
                r"action=undelivered")
    # healthy: another delivery and another run work; the failed report
    # is not posted again (no retry), only the new counts are
    srv.status = 200
    peer.drop_sessions()         # a new session, counted in the new period
    peer.reset()
    ok = deliver_one(p, peer, "carol@hr2.test")
    time.sleep(1.1)              # periods are cut at whole seconds
    tls_report(p)
    srv.wait_for(lambda s: len(s.requests) >= 2)
    time.sleep(0.5)
    assert len(srv.requests) == 2, srv.requests
    check_report(srv.requests[1], "hr2.test", ok)
    assert p.running()


def test_https_report_untrusted_certificate(petrel_factory, dns, smtp_peer,
                                            test_ca, other_ca, netlab_port,
                                            report_server):
    """A destination whose certificate does not chain to the
    outbound-ca-file gets no report: the handshake fails, no request is
    made, the POST is logged as failed (status 0)."""
    srv = report_server(cert=other_ca.leaf([RPT_HOST]))
    url = srv.url()
    peer = dane_domain(dns, test_ca, smtp_peer, "hr3.test", ADDRS[33], url)
    p = petrel_factory(extra=relay_conf(dns, netlab_port, test_ca))
    deliver_one(p, peer, "bob@hr3.test")
    out = tls_report(p)
    assert re.search(r"\b0 reports", out), out
    wait_log(p, r"tlsrpt: domain=hr3\.test period=\S+ to=%s "
                r"report-id=\S+ action=failed status=0 reason=\"[^\"]*"
                r"(certificate|issuer)" % re.escape(url))
    assert srv.requests == []


def test_mixed_mailto_and_https(petrel_factory, dns, smtp_peer, test_ca,
                                netlab_port, report_server):
    """rua=mailto:...,https://...: the report is mailed to the mailbox
    and posted to the URL, the same report (same report-id) both ways;
    the run counts two."""
    srv = report_server()
    url = srv.url()
    rua_peer = smtp_peer(ADDRS[35])
    peer = dane_domain(dns, test_ca, smtp_peer, "hr4.test", ADDRS[34],
                       "mailto:tlsrpt@reports4.test,%s" % url)
    with dns.batch():
        dns.zone("reports4.test", "insecure")
        dns.mx("reports4.test", "mx.reports4.test")
        dns.a("mx.reports4.test", ADDRS[35])
    p = petrel_factory(extra=relay_conf(dns, netlab_port, test_ca))
    ok = deliver_one(p, peer, "bob@hr4.test")
    out = tls_report(p)
    assert re.search(r"\b2 reports", out), out
    srv.wait_for(lambda s: len(s.requests) >= 1)
    posted = check_report(srv.requests[0], "hr4.test", ok)
    got, = rua_peer.wait_for_messages(1, timeout=WAIT)
    assert got.recipients == ["tlsrpt@reports4.test"]
    m = email.message_from_bytes(got.data)
    part, = [x for x in m.walk()
             if x.get_content_type() == "application/tlsrpt+gzip"]
    mailed = json.loads(gzip.decompress(part.get_payload(decode=True)))
    assert mailed["report-id"] == posted["report-id"]
    assert mailed["policies"] == posted["policies"]
    wait_log(p, r"tlsrpt: domain=hr4\.test period=\S+ to=%s "
                r"report-id=\S+ action=posted status=200" % re.escape(url))
