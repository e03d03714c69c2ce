"""
Outbound delivery end to end (issue 4): petrel relays for a trusted
client (relay-from) and hands the message to receiving servers found
through DNS on the test network of netlab.py (NSD with signed zones, SMTP
peers on 127.0.25.x, a real Postfix). Every case asserts on what the
receiving server got (or did not get).
"""
import email
import re
import time

import pytest

pytest.register_assert_rewrite("netlab")
from conftest import make_message, wait_until  # noqa: E402
from netlab import (ADDRS, by_address, endless, garbage,  # noqa: E402
                    long_line, inject)

pytest_plugins = ["netlab"]

SENDER = "alice@example.test"


def relay_conf(dns, port, *more):
    return dns.petrel_conf() + [
        "relay-from 127.0.0.0/8",
        "remote-port %d" % port,
        "retry-min 1s",
        "retry-max 2s",
    ] + list(more)


def one_mx(dns, domain, addr, zone_mode="secure"):
    with dns.batch():
        dns.zone(domain, zone_mode)
        dns.mx(domain, "mx1." + domain)
        dns.a("mx1." + domain, addr)


def bounces(p, timeout=30):
    """The DSNs alice@example.test got (email.message objects)."""
    p.wait_messages(1, domain="example.test", user="alice", timeout=timeout)
    return [email.message_from_bytes(m)
            for m in p.messages(domain="example.test", user="alice")]


def test_mx_preference_and_fallback(petrel_factory, dns, smtp_peer,
                                    netlab_port):
    # mx1 (preference 10) refuses connections: nothing listens there.
    peer = smtp_peer(ADDRS[1])
    with dns.batch():
        dns.zone("dest.test")
        dns.mx("dest.test", (10, "mx1.dest.test"), (20, "mx2.dest.test"))
        dns.a("mx1.dest.test", ADDRS[0])
        dns.a("mx2.dest.test", ADDRS[1])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    p.send(["bob@dest.test"], sender=SENDER,
           msg=make_message(subject="fallback", to="bob@dest.test"))
    m, = peer.wait_for_messages(1, timeout=30)
    assert m.recipients == ["bob@dest.test"]
    assert m.mail_from == SENDER
    assert b"Subject: fallback" in m.data
    p.wait_queue_empty()
    p.wait_log(r"to=<bob@dest.test> relay=mx2.dest.test\[127.0.25.2\]")


def test_implicit_mx(petrel_factory, dns, smtp_peer, netlab_port):
    peer = smtp_peer(ADDRS[2])
    with dns.batch():
        dns.zone("plain.test", "insecure")
        dns.a("plain.test", ADDRS[2])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    p.send(["x@plain.test"], sender=SENDER)
    m, = peer.wait_for_messages(1, timeout=30)
    assert m.recipients == ["x@plain.test"]


def test_null_mx_bounces(petrel_factory, dns, netlab_port):
    with dns.batch():
        dns.zone("nomail.test")
        dns.mx("nomail.test", (0, "."))
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    p.send(["x@nomail.test"], sender=SENDER)
    dsn, = bounces(p)
    assert dsn.get_content_type() == "multipart/report"
    assert "5.1.10" in dsn.as_string()


def test_nxdomain_bounces(petrel_factory, dns, netlab_port):
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    p.send(["x@nowhere.test"], sender=SENDER)
    dsn, = bounces(p)
    assert "5.1.2" in dsn.as_string()


def test_dead_dns_defers(petrel_factory, dns, netlab_port):
    p = petrel_factory(extra=dns.dead_dns_conf() + [
        "relay-from 127.0.0.0/8", "remote-port %d" % netlab_port])
    qid = p.send(["x@dest.test"], sender=SENDER)
    p.wait_log(r"to=<x@dest.test> .*status=deferred")
    assert any(qid in f for f in p.queue_files())


def test_bogus_zone_defers_without_a_fallback(petrel_factory, dns,
                                              smtp_peer, netlab_port):
    peer = smtp_peer(ADDRS[3])
    with dns.batch():
        dns.zone("bad.test", "bogus")
        dns.mx("bad.test", "mx1.bad.test")
        dns.a("mx1.bad.test", ADDRS[3])
        dns.a("bad.test", ADDRS[3])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    p.send(["x@bad.test"], sender=SENDER)
    p.wait_log(r"to=<x@bad.test> .*code=4\.4\.3 status=deferred")
    time.sleep(1)
    assert peer.sessions == []


def test_temporary_then_success(petrel_factory, dns, smtp_peer, netlab_port):
    peer = smtp_peer(ADDRS[4])
    tries = []

    def rcpt(session, arg):
        tries.append(arg)
        return "450 4.2.0 try later" if len(tries) == 1 else None

    peer.on("rcpt", rcpt)
    one_mx(dns, "dest.test", ADDRS[4])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    p.send(["bob@dest.test"], sender=SENDER)
    m, = peer.wait_for_messages(1, timeout=40)
    assert len(tries) == 2
    p.wait_queue_empty()


def test_permanent_failure_dsn(petrel_factory, dns, smtp_peer, netlab_port):
    peer = smtp_peer(ADDRS[5])
    peer.on("rcpt", by_address({"gone@dest.test":
                                "550 5.1.1 <gone@dest.test>: no such user"}))
    one_mx(dns, "dest.test", ADDRS[5])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    p.send(["gone@dest.test", "bob@dest.test"], sender=SENDER,
           msg=make_message(subject="partly", to="bob@dest.test"))
    m, = peer.wait_for_messages(1, timeout=30)
    assert m.recipients == ["bob@dest.test"]
    dsn, = bounces(p)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    parts = dsn.get_payload()
    status = parts[1]
    assert status.get_content_type() == "message/delivery-status"
    text = status.as_string()
    assert "Final-Recipient: rfc822;gone@dest.test" in text.replace(
        "rfc822; ", "rfc822;")
    assert "Action: failed" in text
    assert "Status: 5.1.1" in text
    assert "Remote-MTA: dns;" in text.replace("dns; ", "dns;")
    assert "no such user" in text
    assert "bob@dest.test" not in text


def test_starttls_used_and_logged(petrel_factory, dns, smtp_peer, test_ca,
                                  netlab_port):
    cert, key = test_ca.leaf(["mx1.dest.test"])
    peer = smtp_peer(ADDRS[6], cert=cert, key=key)
    one_mx(dns, "dest.test", ADDRS[6])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    p.send(["bob@dest.test"], sender=SENDER)
    m, = peer.wait_for_messages(1, timeout=30)
    assert m.session.tls
    assert m.session.tls_version in ("TLSv1.2", "TLSv1.3")
    assert m.session.sni == "mx1.dest.test"
    p.wait_log(r"relay=mx1.dest.test\[127.0.25.7\]:\d+ tls=TLSv1\.[23] "
               r"cipher=\S+ bits=\d+ verify=")


def test_encrypt_policy_refuses_plaintext(petrel_factory, dns, smtp_peer,
                                          netlab_port):
    peer = smtp_peer(ADDRS[7])      # no certificate: no STARTTLS
    one_mx(dns, "dest.test", ADDRS[7])
    p = petrel_factory(extra=relay_conf(dns, netlab_port,
                                        "tls-policy dest.test encrypt"))
    p.send(["bob@dest.test"], sender=SENDER)
    p.wait_log(r"to=<bob@dest.test> .*status=deferred .*STARTTLS is not "
               r"offered")
    assert peer.messages == []


def test_verify_policy(petrel_factory, dns, smtp_peer, test_ca, netlab_port):
    good_cert, good_key = test_ca.leaf(["mx1.good.test"])
    bad_cert, bad_key = test_ca.leaf(["other.test"])
    good = smtp_peer(ADDRS[8], cert=good_cert, key=good_key)
    bad = smtp_peer(ADDRS[9], cert=bad_cert, key=bad_key)
    with dns.batch():
        dns.zone("good.test")
        dns.mx("good.test", "mx1.good.test")
        dns.a("mx1.good.test", ADDRS[8])
        dns.zone("bad.test")
        dns.mx("bad.test", "mx1.bad.test")
        dns.a("mx1.bad.test", ADDRS[9])
    p = petrel_factory(extra=relay_conf(
        dns, netlab_port, "outbound-tls verify",
        "outbound-ca-file %s" % test_ca.ca_file))
    p.send(["a@good.test", "b@bad.test"], sender=SENDER)
    m, = good.wait_for_messages(1, timeout=30)
    assert m.session.tls
    p.wait_log(r"to=<b@bad.test> .*status=deferred .*certificate "
               r"verification failed")
    assert bad.messages == []


def test_connection_reuse(petrel_factory, dns, smtp_peer, netlab_port):
    peer = smtp_peer(ADDRS[10])
    one_mx(dns, "dest.test", ADDRS[10])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    # One after the other: each finds the connection the last one left.
    for i in range(4):
        p.send(["u%d@dest.test" % i], sender=SENDER)
        peer.wait_for_messages(i + 1, timeout=30)
    assert len(peer.sessions) == 1
    assert len(peer.sessions[0].transactions) == 4


def test_hostile_peers(petrel_factory, dns, smtp_peer, netlab_port):
    peers = []
    with dns.batch():
        for i, act in enumerate((endless(), long_line(), garbage())):
            peer = smtp_peer(ADDRS[11 + i])
            peer.on("ehlo", act)
            peers.append(peer)
            d = "h%d.test" % i
            dns.zone(d, "insecure")
            dns.mx(d, "mx." + d)
            dns.a("mx." + d, ADDRS[11 + i])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    p.send(["x@h0.test", "x@h1.test", "x@h2.test"], sender=SENDER)
    for i in range(3):
        p.wait_log(r"to=<x@h%d.test> .*status=deferred" % i)
    assert all(peer.messages == [] for peer in peers)


def test_starttls_injection_ignored(petrel_factory, dns, smtp_peer, test_ca,
                                    netlab_port):
    cert, key = test_ca.leaf(["mx1.dest.test"])
    peer = smtp_peer(ADDRS[14], cert=cert, key=key)
    peer.on("starttls", inject("220 2.0.0 go ahead",
                               b"250-injected\r\n250 PIPELINING\r\n"))
    one_mx(dns, "dest.test", ADDRS[14])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    p.send(["bob@dest.test"], sender=SENDER)
    m, = peer.wait_for_messages(1, timeout=30)
    assert m.session.tls
    p.wait_log(r"discarded \d+ bytes sent before the TLS handshake")


def test_smarthost_with_auth(petrel_factory, dns, smtp_peer, test_ca,
                             netlab_port, tmp_path):
    cert, key = test_ca.leaf(["relay.test"])
    peer = smtp_peer(ADDRS[15], cert=cert, key=key, implicit_tls=True,
                     auth={"joe": "s3cr:et"}, require_auth=True)
    dns.a("relay.test", ADDRS[15])
    pw = tmp_path / "relay.pw"
    pw.write_text("joe:s3cr:et\n")
    pw.chmod(0o600)
    p = petrel_factory(extra=relay_conf(
        dns, netlab_port, "smarthost relay.test:%d" % netlab_port,
        "smarthost-tls implicit", "smarthost-auth %s" % pw,
        "outbound-ca-file %s" % test_ca.ca_file))
    p.send(["someone@elsewhere.example"], sender=SENDER)
    m, = peer.wait_for_messages(1, timeout=30)
    assert m.session.auth_user == "joe" and m.session.auth_ok
    assert m.recipients == ["someone@elsewhere.example"]


def test_dsn_params_passed(petrel_factory, dns, smtp_peer, netlab_port):
    peer = smtp_peer(ADDRS[16])
    one_mx(dns, "dest.test", ADDRS[16])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    with p.connect() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<%s> RET=HDRS ENVID=abc+2Bdef" % SENDER)
        c.cmd("RCPT TO:<bob@dest.test> NOTIFY=SUCCESS,FAILURE "
              "ORCPT=rfc822;bob@dest.test")
        r = c.cmd("DATA")
        assert r.code == 354
        c.send(make_message() + b".\r\n")
        assert c.read_reply().code == 250
        c.quit()
    m, = peer.wait_for_messages(1, timeout=30)
    assert "RET=HDRS" in m.mail and "ENVID=abc+2Bdef" in m.mail
    rc = m.rcpts[0].line
    assert "NOTIFY=SUCCESS,FAILURE" in rc and "ORCPT=rfc822;bob@dest.test" in rc


def test_real_postfix_peer(petrel_factory, dns, postfix_peer, netlab_port):
    pf = postfix_peer(ADDRS[17], "pf.test")
    with dns.batch():
        dns.zone("pf.test")
        dns.mx("pf.test", "mx.pf.test")
        dns.a("mx.pf.test", ADDRS[17])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    p.send(["carol@pf.test"], sender=SENDER,
           msg=make_message(subject="to postfix", to="carol@pf.test"))
    paths = pf.wait_for_maildir(1, timeout=60)
    with open(paths[0], "rb") as f:
        assert b"Subject: to postfix" in f.read()
