"""
Outbound transport security end to end (issue 5): DANE (RFC 7672, RFC
7671), MTA-STS (RFC 8461), remember-TLS (petrel's own downgrade rule),
REQUIRETLS (RFC 8689) and TLS-RPT (RFC 8460), through a real `petrel
serve` relaying for a trusted client to receiving servers on the test
network of netlab.py (NSD with signed zones, SmtpPeer, the HTTPS policy
host StsServer, the STARTTLS-stripping StripProxy).

Every case asserts first on what the receiving server got or did not get
(messages, MAIL commands, TLS of the session, plaintext bytes that crossed
a middlebox), and on petrel's log lines (formats in the issue-5 brief)
second.

Each test is self-contained: its own zones, peers and petrel. Addresses:
each test uses its own SmtpPeer addresses (ADDRS); policy hosts listen
on port 443 of a free STS_ADDRS address (the tests run as root, as CI
does).
"""
import email
import gzip
import json
import re
import subprocess
import time

import pytest

pytest.register_assert_rewrite("netlab")
from conftest import dot_stuff, make_message, queued_id  # noqa: E402
from netlab import ADDRS, TestCA, sts_policy  # noqa: E402

pytest_plugins = ["netlab"]

SENDER = "alice@example.test"
WAIT = 60          # seconds: deliveries, deferrals, reports


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def relay_conf(dns, port, *more):
    """petrel relays for 127.0.0.0/8 to port `port` of every MX, resolving
    through the test DNS (DNSSEC validated with the test. anchor: DANE is
    on by default), retrying deferred mail every 1-2 s."""
    return dns.petrel_conf() + [
        "relay-from 127.0.0.0/8",
        "remote-port %d" % port,
        "retry-min 1s",
        "retry-max 2s",
    ] + list(more)


def send(p, rcpt, subject="tlssec", body="hello over the test network\r\n"):
    """One message from alice@example.test to rcpt; returns the queue id."""
    return p.send([rcpt], sender=SENDER,
                  msg=make_message(subject=subject, to=rcpt, body=body,
                                   sender=SENDER))


def log_count(p, pattern):
    return len(re.findall(pattern, p.log()))


def wait_deferred(p, rcpt, code=r"4\.\d+\.\d+", times=2, timeout=WAIT):
    """Waits until the delivery to rcpt was deferred `times` times (a retry
    too: the first refusal is not a lucky race), with an enhanced code
    matching `code`. Returns the last such log line (the remote
    process's, which names the security that applied)."""
    rx = (r"petrel\[remote\]: \S+ qid=\S+ to=<%s> [^\n]*code=%s "
          r"status=deferred[^\n]*" % (re.escape(rcpt), code))
    deadline = time.monotonic() + timeout
    while log_count(p, rx) < times:
        # sent or bounced instead: fail at once
        m = re.search(r"to=<%s> [^\n]*status=(sent|bounced)[^\n]*" %
                      re.escape(rcpt), p.log())
        if m:
            pytest.fail("%s was to be deferred, but: %s" % (rcpt, m.group(0)))
        if time.monotonic() > deadline:
            pytest.fail("no %d deferrals of %s matching %r; log:\n%s" % (
                times, rcpt, rx, p.log_tail(80)))
        time.sleep(0.1)
    return re.findall(rx, p.log())[-1]


def mail_commands(peer):
    """Every MAIL command any session of peer received."""
    return [c for s in peer.sessions for c in s.commands
            if c.upper().startswith("MAIL")]


def assert_nothing_delivered(peer):
    """The peer got no message and not even a MAIL command."""
    assert peer.messages == [], peer.messages
    assert mail_commands(peer) == [], peer.sessions


def secure_mx(dns, domain, host, addr, zone="secure"):
    """domain (its own zone) with one MX host -> addr."""
    dns.zone(domain, zone)
    dns.mx(domain, host)
    dns.a(host, addr)


def bounces(p, n=1, timeout=WAIT):
    """The DSNs alice@example.test got (email.message objects)."""
    p.wait_messages(n, domain="example.test", user="alice", timeout=timeout)
    return [email.message_from_bytes(m)
            for m in p.messages(domain="example.test", user="alice")]


def send_requiretls(p, rcpt, subject="requiretls"):
    """Submits one message with MAIL FROM ... REQUIRETLS (RFC 8689 4.1):
    over STARTTLS (REQUIRETLS is only offered under TLS); returns the
    queue id."""
    with p.connect() as c:
        c.ehlo()
        c.starttls()
        r = c.ehlo()
        assert "REQUIRETLS" in c.extensions(r), r
        r = c.cmd("MAIL FROM:<%s> REQUIRETLS" % SENDER)
        assert r.code == 250, r
        r = c.cmd("RCPT TO:<%s>" % rcpt)
        assert r.code == 250, r
        r = c.cmd("DATA")
        assert r.code == 354, r
        c.send(dot_stuff(make_message(subject=subject, to=rcpt,
                                      sender=SENDER)) + b".\r\n")
        qid = queued_id(c.read_reply())
    return qid


def petrel_tls(p, *args):
    """Runs `petrel tls ARGS --config CONF`."""
    return subprocess.run([p.bin, "tls"] + list(args) +
                          ["--config", p.conf_path], capture_output=True,
                          text=True, timeout=120)


# --------------------------------------------------------------------------
# DANE (RFC 7672)
# --------------------------------------------------------------------------

def test_dane_ee_match_delivered_over_tls(petrel_factory, dns, smtp_peer,
                                          test_ca, netlab_port):
    """DANE-EE (3 1 1) matching the peer's key: delivered over TLS,
    although the certificate has the wrong name, expired long ago and
    comes from a CA petrel does not trust (RFC 7672 3.1.1: DANE-EE ignores
    names and dates); the host is logged as security=dane with
    verify=ok."""
    cert, key = test_ca.leaf(["unrelated.test"], expired=True)
    peer = smtp_peer(ADDRS[0], cert=cert, key=key)
    with dns.batch():
        secure_mx(dns, "dane1.test", "mx1.dane1.test", ADDRS[0])
        dns.dane("mx1.dane1.test", cert)
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send(p, "bob@dane1.test", "dane-ee match")
    m, = peer.wait_for_messages(1, timeout=WAIT)
    assert m.recipients == ["bob@dane1.test"]
    assert m.session.tls and m.session.tls_version in ("TLSv1.2", "TLSv1.3")
    assert b"Subject: dane-ee match" in m.data
    p.wait_log(r"domain=dane1\.test mx=mx1\.dane1\.test security=dane\b")
    p.wait_log(r"relay=mx1\.dane1\.test\[127\.0\.25\.1\]:\d+ tls=TLSv1\.[23]"
               r" .*verify=ok.* security=dane\b")


def test_dane_ee_mismatch_deferred_no_plaintext(petrel_factory, dns,
                                                smtp_peer, test_ca,
                                                netlab_port):
    """DANE-EE record for another key: the handshake fails authentication,
    the recipient is deferred with 4.7.5 (twice: retries too) and the
    message is never sent, in particular not in plaintext after the failed
    handshake (the opportunistic fallback must not apply to a DANE
    host)."""
    cert, key = test_ca.leaf(["mx1.dane2.test"])
    other, _ = test_ca.leaf(["mx1.dane2.test"])       # another key
    peer = smtp_peer(ADDRS[1], cert=cert, key=key)
    with dns.batch():
        secure_mx(dns, "dane2.test", "mx1.dane2.test", ADDRS[1])
        dns.dane("mx1.dane2.test", other)
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send(p, "bob@dane2.test", "dane-ee mismatch")
    line = wait_deferred(p, "bob@dane2.test", code=r"4\.7\.5")
    assert "security=dane" in line, line
    assert_nothing_delivered(peer)
    # petrel did try TLS (it found the host), and every session that got
    # past EHLO asked for STARTTLS
    assert peer.sessions
    assert all(s.tls or "STARTTLS" in s.commands or not s.ehlos
               for s in peer.sessions), peer.sessions


def test_dane_ta_with_test_ca(petrel_factory, dns, smtp_peer, test_ca,
                              netlab_port):
    """DANE-TA (2 1 1) of the test CA, the peer sending leaf + CA: the
    chain and the MX name (RFC 7672 3.2.2) are checked by DANE, not by
    PKIX (no CA file is configured): delivered over TLS, verify=ok
    security=dane."""
    cert, key = test_ca.leaf(["mx1.ta.test"], chain=True)
    peer = smtp_peer(ADDRS[2], cert=cert, key=key)
    with dns.batch():
        secure_mx(dns, "ta.test", "mx1.ta.test", ADDRS[2])
        dns.dane("mx1.ta.test", rdata=test_ca.tlsa_ta())
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send(p, "bob@ta.test", "dane-ta")
    m, = peer.wait_for_messages(1, timeout=WAIT)
    assert m.session.tls and m.recipients == ["bob@ta.test"]
    p.wait_log(r"relay=mx1\.ta\.test\[127\.0\.25\.3\]:\d+ tls=TLSv1\.[23] "
               r".*verify=ok.* security=dane\b")


def test_dane_ta_wrong_name_or_forged_deferred(petrel_factory, dns,
                                               smtp_peer, test_ca, other_ca,
                                               netlab_port):
    """DANE-TA (2 1 1) of the test CA, but (a) the peer's certificate from
    that CA is for another name (RFC 7672 3.2.2 name check), (b) the peer
    presents a certificate for the right name from another ("forger") CA:
    both deferred with 4.7.5, nothing sent."""
    wrong, wkey = test_ca.leaf(["other.test"], chain=True)
    forged, fkey = other_ca.leaf(["mx1.tab.test"], chain=True)
    pa = smtp_peer(ADDRS[3], cert=wrong, key=wkey)
    pb = smtp_peer(ADDRS[4], cert=forged, key=fkey)
    with dns.batch():
        secure_mx(dns, "taa.test", "mx1.taa.test", ADDRS[3])
        dns.dane("mx1.taa.test", rdata=test_ca.tlsa_ta())
        secure_mx(dns, "tab.test", "mx1.tab.test", ADDRS[4])
        dns.dane("mx1.tab.test", rdata=test_ca.tlsa_ta())
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send(p, "bob@taa.test", "dane-ta wrong name")
    send(p, "bob@tab.test", "dane-ta forged")
    wait_deferred(p, "bob@taa.test", code=r"4\.7\.5")
    wait_deferred(p, "bob@tab.test", code=r"4\.7\.5")
    assert_nothing_delivered(pa)
    assert_nothing_delivered(pb)


def test_insecure_zone_tlsa_ignored(petrel_factory, dns, smtp_peer, test_ca,
                                    netlab_port):
    """A TLSA record in an insecure (unsigned) zone is not DANE (RFC 7672
    2.2): the record, which matches nothing, is ignored and the message is
    delivered opportunistically, over TLS since the peer offers it."""
    cert, key = test_ca.self_signed(["mx1.ins.test"])
    peer = smtp_peer(ADDRS[5], cert=cert, key=key)
    with dns.batch():
        secure_mx(dns, "ins.test", "mx1.ins.test", ADDRS[5], zone="insecure")
        dns.dane("mx1.ins.test", rdata="3 1 1 " + "5a" * 32)
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send(p, "bob@ins.test", "insecure tlsa")
    m, = peer.wait_for_messages(1, timeout=WAIT)
    assert m.recipients == ["bob@ins.test"]
    assert m.session.tls
    p.wait_queue_empty()


def test_bogus_tlsa_host_unusable(petrel_factory, dns, smtp_peer, test_ca,
                                  netlab_port):
    """mx1 (preference 10) has secure MX and A records but a bogus TLSA
    RRset (broken signature): RFC 7672 2.2 makes that host unusable, so
    nothing goes to it, neither over TLS nor in plaintext; the message
    goes to mx2 (preference 20, valid DANE-EE) over TLS."""
    c1, k1 = test_ca.leaf(["mx1.bog.test"])
    c2, k2 = test_ca.leaf(["mx2.bog.test"])
    p1 = smtp_peer(ADDRS[6], cert=c1, key=k1)
    p2 = smtp_peer(ADDRS[7], cert=c2, key=k2)
    with dns.batch():
        dns.zone("bog.test")
        dns.mx("bog.test", (10, "mx1.bog.test"), (20, "mx2.bog.test"))
        dns.a("mx1.bog.test", ADDRS[6])
        dns.a("mx2.bog.test", ADDRS[7])
        dns.dane("mx1.bog.test", c1)      # matches, but is bogus
        dns.dane("mx2.bog.test", c2)
        dns.break_sig("_25._tcp.mx1.bog.test", "TLSA")
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send(p, "bob@bog.test", "bogus tlsa")
    m, = p2.wait_for_messages(1, timeout=WAIT)
    assert m.session.tls and m.recipients == ["bob@bog.test"]
    assert_nothing_delivered(p1)
    p.wait_log(r"relay=mx2\.bog\.test\[127\.0\.25\.8\]:\d+ tls=TLSv1\.[23] "
               r".*security=dane\b")


def test_bogus_tlsa_single_mx_deferred(petrel_factory, dns, smtp_peer,
                                       test_ca, netlab_port):
    """The only MX host has a bogus TLSA RRset: the delivery is deferred
    (never opportunistic TLS or plaintext to that host)."""
    cert, key = test_ca.leaf(["mx1.bog1.test"])
    peer = smtp_peer(ADDRS[8], cert=cert, key=key)
    with dns.batch():
        secure_mx(dns, "bog1.test", "mx1.bog1.test", ADDRS[8])
        dns.dane("mx1.bog1.test", cert)
        dns.break_sig("_25._tcp.mx1.bog1.test", "TLSA")
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send(p, "bob@bog1.test", "bogus tlsa only mx")
    wait_deferred(p, "bob@bog1.test")
    assert_nothing_delivered(peer)


def test_dane_cname_mx_host(petrel_factory, dns, smtp_peer, test_ca,
                            netlab_port):
    """RFC 7672 2.2.2: the MX host is an alias (CNAME to a host in the
    same secure zone) and the TLSA record is at the CNAME-expanded name
    only: DANE applies (delivered over TLS, security=dane) even though
    the certificate's name matches neither."""
    cert, key = test_ca.leaf(["nothing.test"])
    peer = smtp_peer(ADDRS[9], cert=cert, key=key)
    with dns.batch():
        dns.zone("cn.test")
        dns.mx("cn.test", "mx1.cn.test")
        dns.cname("mx1.cn.test", "real.cn.test")
        dns.a("real.cn.test", ADDRS[9])
        dns.dane("real.cn.test", cert)
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send(p, "bob@cn.test", "cname mx")
    m, = peer.wait_for_messages(1, timeout=WAIT)
    assert m.session.tls
    p.wait_log(r"domain=cn\.test mx=mx1\.cn\.test security=dane\b")


# --------------------------------------------------------------------------
# A STARTTLS-stripping middlebox
# --------------------------------------------------------------------------

def test_stripping_proxy_in_front_of_dane_host(petrel_factory, dns,
                                               smtp_peer, strip_proxy,
                                               test_ca, netlab_port):
    """A middlebox rewrites 250-STARTTLS to 250-XXXXXXXA in front of a
    DANE host: the proxy really stripped it, but no message byte crossed
    in plaintext and the real server got no MAIL; the recipient is
    deferred with 4.7.5 and the log says STARTTLS was missing."""
    cert, key = test_ca.leaf(["mx1.strip.test"])
    peer = smtp_peer(ADDRS[11], cert=cert, key=key)
    px = strip_proxy(ADDRS[10], ADDRS[11])
    with dns.batch():
        secure_mx(dns, "strip.test", "mx1.strip.test", ADDRS[10])
        dns.dane("mx1.strip.test", cert)
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send(p, "bob@strip.test", "stripped", body="top secret\r\n")
    line = wait_deferred(p, "bob@strip.test", code=r"4\.7\.5")
    assert re.search(r"starttls", line, re.I), line
    assert "security=dane" in line, line
    assert px.sessions and any(s.stripped for s in px.sessions)
    assert px.plaintext_data == b""
    assert not any(c.upper().startswith(("MAIL", "RCPT", "DATA", "BDAT"))
                   for s in px.sessions for c in s.commands), px.sessions
    assert_nothing_delivered(peer)


def test_stripping_proxy_opportunistic_delivers_plaintext(
        petrel_factory, dns, smtp_peer, strip_proxy, test_ca, netlab_port):
    """The same middlebox in front of a host with no policy (insecure
    zone, first contact, so remember-TLS has nothing to remember):
    opportunistic TLS loses, the message is delivered in plaintext (what
    this issue protects against everywhere a policy exists)."""
    cert, key = test_ca.leaf(["mx1.opp.test"])
    peer = smtp_peer(ADDRS[13], cert=cert, key=key)
    px = strip_proxy(ADDRS[12], ADDRS[13])
    with dns.batch():
        secure_mx(dns, "opp.test", "mx1.opp.test", ADDRS[12],
                  zone="insecure")
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send(p, "bob@opp.test", "stripped opportunistic", body="not secret\r\n")
    m, = peer.wait_for_messages(1, timeout=WAIT)
    assert not m.session.tls
    assert any(s.stripped for s in px.sessions)
    assert b"not secret" in px.plaintext_data
    assert b"Subject: stripped opportunistic" in px.plaintext_data


# --------------------------------------------------------------------------
# MTA-STS (RFC 8461)
# --------------------------------------------------------------------------

def sts_domain(dns, domain, mx_addr, sts_addr, id="1", ttl=300):
    """An insecure zone (so DANE cannot apply) with one MX host
    mx1.DOMAIN -> mx_addr and the MTA-STS records -> sts_addr."""
    with dns.batch():
        secure_mx(dns, domain, "mx1." + domain, mx_addr, zone="insecure")
        dns.mta_sts(domain, sts_addr, id=id, ttl=ttl)


def sts_conf(dns, port, test_ca, *more):
    return relay_conf(dns, port, "mta-sts-ca-file %s" % test_ca.ca_file,
                      *more)


def test_mta_sts_enforce_matching_certificate(petrel_factory, dns, smtp_peer,
                                              sts_server, test_ca,
                                              netlab_port):
    """MTA-STS enforce, the MX listed, its certificate valid for its name
    under mta-sts-ca-file: the policy is fetched from
    https://mta-sts.DOMAIN/.well-known/mta-sts.txt (SNI and Host name the
    policy host) and the message is delivered over TLS, security=mta-sts."""
    cert, key = test_ca.leaf(["mx1.sts1.test"])
    peer = smtp_peer(ADDRS[14], cert=cert, key=key)
    srv = sts_server("sts1.test",
                     body=sts_policy("enforce", ["mx1.sts1.test"]))
    sts_domain(dns, "sts1.test", ADDRS[14], srv.addr)
    p = petrel_factory(extra=sts_conf(dns, netlab_port, test_ca))
    send(p, "bob@sts1.test", "sts enforce ok")
    m, = peer.wait_for_messages(1, timeout=WAIT)
    assert m.session.tls and m.session.sni == "mx1.sts1.test"
    r = srv.requests[0]
    assert r.method == "GET" and r.path == "/.well-known/mta-sts.txt"
    assert r.host == "mta-sts.sts1.test" and r.sni == "mta-sts.sts1.test"
    p.wait_log(r"domain=sts1\.test mx=mx1\.sts1\.test "
               r"security=mta-sts(?![-\w])")


def test_mta_sts_enforce_mismatching_certificate(petrel_factory, dns,
                                                 smtp_peer, sts_server,
                                                 test_ca, netlab_port):
    """MTA-STS enforce, the MX's certificate is from the right CA but for
    another name: deferred (4.7.5), the peer gets no MAIL: no plaintext
    fallback and no delivery over unauthenticated TLS."""
    cert, key = test_ca.leaf(["other.sts2.test"])
    peer = smtp_peer(ADDRS[15], cert=cert, key=key)
    srv = sts_server("sts2.test",
                     body=sts_policy("enforce", ["mx1.sts2.test"]))
    sts_domain(dns, "sts2.test", ADDRS[15], srv.addr)
    p = petrel_factory(extra=sts_conf(dns, netlab_port, test_ca))
    send(p, "bob@sts2.test", "sts enforce bad name")
    line = wait_deferred(p, "bob@sts2.test", code=r"4\.7\.5")
    assert re.search(r"security=mta-sts(?![-\w])", line), line
    assert_nothing_delivered(peer)


def test_mta_sts_enforce_mx_not_in_policy(petrel_factory, dns, smtp_peer,
                                          sts_server, test_ca, netlab_port):
    """MTA-STS enforce whose mx patterns do not cover the domain's MX
    host (RFC 8461 4.1): deferred, the host gets no MAIL even though its
    certificate is valid for its own name."""
    cert, key = test_ca.leaf(["mx1.sts3.test"])
    peer = smtp_peer(ADDRS[16], cert=cert, key=key)
    srv = sts_server("sts3.test", body=sts_policy(
        "enforce", ["mx9.sts3.test", "*.elsewhere.test"]))
    sts_domain(dns, "sts3.test", ADDRS[16], srv.addr)
    p = petrel_factory(extra=sts_conf(dns, netlab_port, test_ca))
    send(p, "bob@sts3.test", "sts mx not listed")
    wait_deferred(p, "bob@sts3.test")
    assert_nothing_delivered(peer)


def test_mta_sts_testing_delivers(petrel_factory, dns, smtp_peer, sts_server,
                                  test_ca, netlab_port):
    """MTA-STS testing with a certificate for the wrong name: delivered
    anyway (RFC 8461 5: testing only reports), opportunistically over TLS,
    security=mta-sts-testing."""
    cert, key = test_ca.leaf(["other.sts4.test"])
    peer = smtp_peer(ADDRS[17], cert=cert, key=key)
    srv = sts_server("sts4.test",
                     body=sts_policy("testing", ["mx1.sts4.test"]))
    sts_domain(dns, "sts4.test", ADDRS[17], srv.addr)
    p = petrel_factory(extra=sts_conf(dns, netlab_port, test_ca))
    send(p, "bob@sts4.test", "sts testing")
    m, = peer.wait_for_messages(1, timeout=WAIT)
    assert m.session.tls
    assert srv.requests, "the policy was never fetched"
    p.wait_log(r"domain=sts4\.test mx=mx1\.sts4\.test "
               r"security=mta-sts-testing\b")


def test_mta_sts_policy_cached_across_failed_fetch(petrel_factory, dns,
                                                   smtp_peer, sts_server,
                                                   test_ca, netlab_port):
    """An enforce policy fetched for the first message stays in force when
    a later fetch fails (RFC 8461 3.3 / 5.1): the TXT id changes (petrel
    must try to refresh: the policy host sees a second request), the host
    answers 500, and the MX now shows a certificate for the wrong name.
    Without the cached policy that would be plain opportunistic delivery;
    with it the second message is deferred and never reaches the peer."""
    good, gkey = test_ca.leaf(["mx1.stc.test"])
    bad, bkey = test_ca.leaf(["impostor.stc.test"])
    peer = smtp_peer(ADDRS[18], cert=good, key=gkey)
    srv = sts_server("stc.test",
                     body=sts_policy("enforce", ["mx1.stc.test"], 86400))
    # TTL 1 s: petrel's resolver sees the new id below at once
    sts_domain(dns, "stc.test", ADDRS[18], srv.addr, id="1", ttl=1)
    p = petrel_factory(extra=sts_conf(dns, netlab_port, test_ca))
    send(p, "bob@stc.test", "sts cached 1")
    m, = peer.wait_for_messages(1, timeout=WAIT)
    assert m.session.tls
    assert len(srv.requests) >= 1
    fetched = len(srv.requests)
    # the world changes: new id, failing policy host, impostor MX
    srv.set(status=500, body="internal error\n")
    dns.mta_sts("stc.test", srv.addr, id="2", ttl=1)
    time.sleep(1.5)
    peer.stop()
    impostor = smtp_peer(ADDRS[18], cert=bad, key=bkey)
    send(p, "carol@stc.test", "sts cached 2")
    line = wait_deferred(p, "carol@stc.test", code=r"4\.7\.5")
    assert re.search(r"security=mta-sts(?![-\w])", line), line
    assert_nothing_delivered(impostor)
    srv.wait_for_requests(fetched + 1, timeout=WAIT)
    assert srv.requests[-1].status == 500


# --------------------------------------------------------------------------
# remember-TLS
# --------------------------------------------------------------------------

def remember_setup(dns, smtp_peer, test_ca, domain, addr):
    cert, key = test_ca.leaf(["mx1." + domain])
    peer = smtp_peer(addr, cert=cert, key=key)
    secure_mx(dns, domain, "mx1." + domain, addr, zone="insecure")
    return peer


def drop_starttls(peer):
    """The peer stops offering STARTTLS and closes petrel's cached
    connection, so that the next message meets the change."""
    peer.offer_starttls = False
    peer.drop_sessions()


def test_remember_tls_defers_after_starttls_disappears(
        petrel_factory, dns, smtp_peer, test_ca, netlab_port):
    """tls-remember-policy remember: a host with no policy (opportunistic)
    took the first message over TLS; then it stops offering STARTTLS (as
    behind a stripping firewall). The second message is deferred (4.7.5)
    with a "probable STARTTLS downgrade" warning naming the host, and the
    peer gets no plaintext MAIL."""
    peer = remember_setup(dns, smtp_peer, test_ca, "rem1.test", ADDRS[19])
    p = petrel_factory(extra=relay_conf(dns, netlab_port,
                                        "tls-remember 30d",
                                        "tls-remember-policy remember"))
    send(p, "bob@rem1.test", "remember 1")
    m, = peer.wait_for_messages(1, timeout=WAIT)
    assert m.session.tls
    p.wait_queue_empty()
    drop_starttls(peer)
    send(p, "carol@rem1.test", "remember 2", body="must not leak\r\n")
    wait_deferred(p, "carol@rem1.test")
    p.wait_log(r"probable STARTTLS downgrade host=mx1\.rem1\.test "
               r"last-tls=\S+ now=\"STARTTLS not offered\" action=defer")
    assert len(peer.messages) == 1
    later = [s for s in peer.sessions if s is not m.session]
    assert later, "petrel did not come back to the host"
    assert not any(c.upper().startswith("MAIL") for s in later
                   for c in s.commands), later


def test_remember_tls_survives_restart_and_forget(
        petrel_factory, dns, smtp_peer, test_ca, netlab_port):
    """The record is kept across a restart (STATE/remote/tls-seen): after
    the host drops STARTTLS and petrel restarts, the message is still
    deferred. `petrel tls list` names the host; `petrel tls forget HOST`
    drops it, and the next try delivers in plaintext."""
    peer = remember_setup(dns, smtp_peer, test_ca, "rem3.test", ADDRS[27])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send(p, "bob@rem3.test", "remember 1")
    peer.wait_for_messages(1, timeout=WAIT)
    p.wait_queue_empty()
    drop_starttls(peer)
    p.restart()
    send(p, "carol@rem3.test", "remember 2")
    wait_deferred(p, "carol@rem3.test", code=r"4\.7\.5")
    r = petrel_tls(p, "list")
    assert r.returncode == 0, r.stderr
    assert "mx1.rem3.test" in r.stdout, r.stdout
    r = petrel_tls(p, "forget", "mx1.rem3.test")
    assert r.returncode == 0 and "forgotten" in r.stdout, (r.stdout,
                                                           r.stderr)
    assert "mx1.rem3.test" not in petrel_tls(p, "list").stdout
    r = petrel_tls(p, "forget", "mx1.rem3.test")
    assert r.returncode != 0 and "no record" in r.stderr, r.stderr
    m2 = peer.wait_for_messages(2, timeout=WAIT)[1]
    assert not m2.session.tls and m2.recipients == ["carol@rem3.test"]


def test_remember_tls_warn_delivers_plaintext(petrel_factory, dns, smtp_peer,
                                              test_ca, netlab_port):
    """tls-remember-policy warn: the same downgrade is logged (action=
    plaintext) and the second message is delivered without TLS."""
    peer = remember_setup(dns, smtp_peer, test_ca, "rem2.test", ADDRS[20])
    p = petrel_factory(extra=relay_conf(dns, netlab_port,
                                        "tls-remember 30d",
                                        "tls-remember-policy warn"))
    send(p, "bob@rem2.test", "warn 1")
    m1, = peer.wait_for_messages(1, timeout=WAIT)
    assert m1.session.tls
    p.wait_queue_empty()
    drop_starttls(peer)
    send(p, "carol@rem2.test", "warn 2")
    m2 = peer.wait_for_messages(2, timeout=WAIT)[1]
    assert not m2.session.tls and m2.recipients == ["carol@rem2.test"]
    p.wait_log(r"probable STARTTLS downgrade host=mx1\.rem2\.test "
               r"last-tls=\S+ now=\"STARTTLS not offered\" "
               r"action=plaintext")


# --------------------------------------------------------------------------
# REQUIRETLS (RFC 8689)
# --------------------------------------------------------------------------

def test_requiretls_delivered_over_dane(petrel_factory, dns, smtp_peer,
                                        test_ca, netlab_port):
    """A message submitted with MAIL FROM ... REQUIRETLS goes to a DANE
    host that advertises REQUIRETLS after STARTTLS: delivered over TLS,
    and the REQUIRETLS parameter is passed on in the MAIL command (RFC
    8689 4.2.1)."""
    cert, key = test_ca.leaf(["mx1.rt1.test"])
    peer = smtp_peer(ADDRS[21], cert=cert, key=key, requiretls=True)
    with dns.batch():
        secure_mx(dns, "rt1.test", "mx1.rt1.test", ADDRS[21])
        dns.dane("mx1.rt1.test", cert)
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send_requiretls(p, "bob@rt1.test")
    m, = peer.wait_for_messages(1, timeout=WAIT)
    assert m.session.tls
    assert "REQUIRETLS" in m.mail_params, m.mail
    assert m.recipients == ["bob@rt1.test"]


def test_requiretls_bounced_towards_plain_host(petrel_factory, dns,
                                               smtp_peer, test_ca,
                                               netlab_port):
    """REQUIRETLS towards a host with neither DANE nor MTA-STS (insecure
    zone; it even offers STARTTLS with a self-signed certificate and
    advertises REQUIRETLS): the TLS cannot be authenticated, so the
    message is never sent there and alice gets a DSN with 5.7.30."""
    cert, key = test_ca.self_signed(["mx1.rt2.test"])
    peer = smtp_peer(ADDRS[22], cert=cert, key=key, requiretls=True)
    secure_mx(dns, "rt2.test", "mx1.rt2.test", ADDRS[22], zone="insecure")
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send_requiretls(p, "bob@rt2.test")
    dsn, = bounces(p)
    assert dsn.get_content_type() == "multipart/report"
    text = dsn.as_string()
    assert "Action: failed" in text
    assert "Status: 5.7.30" in text
    assert "bob@rt2.test" in text
    assert_nothing_delivered(peer)


def test_requiretls_not_advertised_by_dane_host(petrel_factory, dns,
                                                smtp_peer, test_ca,
                                                netlab_port):
    """REQUIRETLS towards a DANE-authenticated host that does not
    advertise REQUIRETLS (RFC 8689 4.2.1: the next hop must): not relayed,
    bounced with 5.7.x (5.7.30 per the brief; RFC 8689 also names
    5.7.30), the peer gets no MAIL."""
    cert, key = test_ca.leaf(["mx1.rt3.test"])
    peer = smtp_peer(ADDRS[23], cert=cert, key=key)      # no REQUIRETLS
    with dns.batch():
        secure_mx(dns, "rt3.test", "mx1.rt3.test", ADDRS[23])
        dns.dane("mx1.rt3.test", cert)
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send_requiretls(p, "bob@rt3.test")
    dsn, = bounces(p)
    text = dsn.as_string()
    assert re.search(r"Status: 5\.7\.(10|30)\b", text), text
    assert_nothing_delivered(peer)


# --------------------------------------------------------------------------
# TLS-RPT (RFC 8460)
# --------------------------------------------------------------------------

RESULT_TYPES = {
    "starttls-not-supported", "certificate-host-mismatch",
    "certificate-expired", "certificate-not-trusted", "validation-failure",
    "tlsa-invalid", "dnssec-invalid", "dane-required",
    "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
}


def report_parts(msg):
    """(the message, the application/tlsrpt+gzip part) of a report."""
    m = email.message_from_bytes(msg)
    parts = [x for x in m.walk()
             if x.get_content_type() == "application/tlsrpt+gzip"]
    return m, parts


def test_tlsrpt_report_sent_with_right_counts(petrel_factory, dns, smtp_peer,
                                              test_ca, netlab_port):
    """rpt.test publishes DANE for two MX hosts and a TLS-RPT address. mx1
    (preference 10) fails DANE authentication, mx2 succeeds. After
    `petrel tls report`, the rua mailbox gets an RFC 8460 report:
    multipart/report; report-type=tlsrpt with a gzip'd JSON part
    (application/tlsrpt+gzip) whose tlsa policy for rpt.test counts
    exactly the sessions the two peers saw: successes on mx2, failures on
    mx1, with a failure-details entry naming mx1."""
    c1, k1 = test_ca.leaf(["mx1.rpt.test"])
    c2, k2 = test_ca.leaf(["mx2.rpt.test"])
    other, _ = test_ca.leaf(["mx1.rpt.test"])
    p1 = smtp_peer(ADDRS[24], cert=c1, key=k1)
    p2 = smtp_peer(ADDRS[25], cert=c2, key=k2)
    rua = smtp_peer(ADDRS[26])
    with dns.batch():
        dns.zone("rpt.test")
        dns.mx("rpt.test", (10, "mx1.rpt.test"), (20, "mx2.rpt.test"))
        dns.a("mx1.rpt.test", ADDRS[24])
        dns.a("mx2.rpt.test", ADDRS[25])
        dns.dane("mx1.rpt.test", other)          # mismatch
        dns.dane("mx2.rpt.test", c2)
        dns.tlsrpt("rpt.test", "mailto:tlsrpt@reports.test")
        secure_mx(dns, "reports.test", "mx.reports.test", ADDRS[26],
                  zone="insecure")
    p = petrel_factory(extra=relay_conf(dns, netlab_port,
                                        "tlsrpt yes",
                                        "tlsrpt-contact tls@example.test"))
    send(p, "bob@rpt.test", "for the report")
    m, = p2.wait_for_messages(1, timeout=WAIT)
    assert m.session.tls
    p.wait_queue_empty()
    assert_nothing_delivered(p1)
    ok = len([s for s in p2.sessions if s.tls and s.transactions])
    failed = len([s for s in p1.sessions
                  if "STARTTLS" in s.commands or s.tls_error])
    assert ok >= 1 and failed >= 1
    r = petrel_tls(p, "report")
    assert r.returncode == 0, (r.stdout, r.stderr)
    got, = rua.wait_for_messages(1, timeout=WAIT)
    assert got.recipients == ["tlsrpt@reports.test"]
    msg, parts = report_parts(got.data)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "tlsrpt"
    assert msg["TLS-Report-Domain"].strip() == "rpt.test"
    assert msg["TLS-Report-Submitter"]
    assert "Report Domain: rpt.test" in msg["Subject"]
    assert len(parts) == 1
    rep = json.loads(gzip.decompress(parts[0].get_payload(decode=True)))
    for k in ("organization-name", "date-range", "contact-info",
              "report-id", "policies"):
        assert k in rep, rep
    assert "tls@example.test" in rep["contact-info"]     # tlsrpt-contact
    assert set(rep["date-range"]) >= {"start-datetime", "end-datetime"}
    pols = [x for x in rep["policies"]
            if x["policy"]["policy-domain"] == "rpt.test"]
    assert pols, rep
    assert {x["policy"]["policy-type"] for x in pols} == {"tlsa"}
    succ = sum(x["summary"]["total-successful-session-count"] for x in pols)
    fail = sum(x["summary"]["total-failure-session-count"] for x in pols)
    assert (succ, fail) == (ok, failed), rep
    details = [d for x in pols for d in x.get("failure-details", [])]
    assert sum(d["failed-session-count"] for d in details) == failed
    assert all(d["result-type"] in RESULT_TYPES for d in details), details
    assert {d.get("receiving-mx-hostname", "").rstrip(".")
            for d in details} == {"mx1.rpt.test"}, details
    # the TLSA records of the policy are reported as strings (RFC 8460
    # 4.4 policy-string), mx2's among them
    strings = [s for x in pols for s in x["policy"].get("policy-string",
                                                          [])]
    assert any(TestCA.tlsa(c2).split()[3] in s.lower().replace(" ", "")
               for s in strings), strings
