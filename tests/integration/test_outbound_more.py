"""
Outbound delivery end to end, the cases test_outbound.py does not cover
(issue 4): delivery status notifications for remote recipients (RET,
NOTIFY=SUCCESS with and without a DSN-capable peer, delay warning, queue
lifetime), the outbound source address, peers that stall, what the peer
lacks (SIZE, 8BITMIME, SMTPUTF8), the remote process killed in flight,
IPv6, and host-level permanent refusals.

The network is netlab.py's (NSD with signed zones, scriptable SMTP peers
on 127.0.25.x); petrel relays for 127.0.0.0/8 and the sender,
alice@example.test, is a local mailbox, so every report petrel writes
arrives in her Maildir, where it is parsed with the email package. Each
case asserts on what the receiving peer got and on what alice got.

Timers are short (retry 1s, timeouts 3s): the file runs in well under
three minutes on a release build.
"""
import email
import email.policy
import re
import socket
import threading
import time

import pytest

pytest.register_assert_rewrite("netlab")
from conftest import (dot_stuff, make_message, queued_id,  # noqa: E402
                      wait_until)
from netlab import ADDRS, SmtpPeer, by_address, stall  # noqa: E402

pytest_plugins = ["netlab"]

SENDER = "alice@example.test"
FAST = ["retry-min 1s", "retry-max 1s"]


def relay_conf(dns, port, *more):
    return dns.petrel_conf() + [
        "relay-from 127.0.0.0/8",
        "remote-port %d" % port,
    ] + FAST + list(more)


def one_mx(dns, domain, *addrs, aaaa=()):
    with dns.batch():
        dns.zone(domain)
        dns.mx(domain, "mx1." + domain)
        if addrs:
            dns.a("mx1." + domain, *addrs)
        if aaaa:
            dns.aaaa("mx1." + domain, *aaaa)


def send(p, rcpts, mail_params="", rcpt_params=None, msg=None,
         sender=SENDER):
    """One message over the MX port with ESMTP parameters; its queue ID."""
    rcpt_params = rcpt_params or [""] * len(rcpts)
    if msg is None:
        msg = make_message(subject="outbound more", sender=sender,
                           to=rcpts[0], body="the body line\r\n")
    with p.connect() as c:
        c.ehlo()
        r = c.cmd("MAIL FROM:<%s>%s" % (sender, " " + mail_params
                                         if mail_params else ""))
        assert r.code == 250, r
        for rc, prm in zip(rcpts, rcpt_params):
            r = c.cmd("RCPT TO:<%s>%s" % (rc, " " + prm if prm else ""))
            assert r.code == 250, r
        assert c.cmd("DATA").code == 354
        c.send(dot_stuff(msg) + b".\r\n")
        qid = queued_id(c.read_reply())
        c.quit()
    return qid


def reports(p, n=1, timeout=40):
    """Waits for n messages in alice's Maildir (and an empty queue);
    returns them parsed."""
    p.wait_messages(n, domain="example.test", user="alice", timeout=timeout)
    return [email.message_from_bytes(raw, policy=email.policy.default)
            for raw in p.messages("example.test", "alice")]


def field(group, name):
    """A per-recipient field with the space after "type;" removed."""
    v = group[name]
    return None if v is None else re.sub(r"^([\w-]+);\s*", r"\1;", str(v))


def report_parts(rep, subject):
    """Checks the outer shape of a report; returns (text, per-message
    fields, per-recipient field groups, returned part or None)."""
    assert rep["Return-Path"] == "<>"
    assert rep["Subject"] == subject, rep["Subject"]
    assert rep.get_content_type() == "multipart/report"
    parts = list(rep.iter_parts())
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() in ("message/delivery-status",
                                           "message/global-delivery-status")
    if parts[1].get_content_type() == "message/delivery-status":
        groups = parts[1].get_payload()
    else:
        # RFC 6533 message/global-delivery-status: the email package
        # leaves it as one blob; its field groups are split here.
        raw = b"".join(bytes(x) for x in parts[1].get_payload()).decode(
            "utf-8")
        groups = [email.message_from_string(g.strip("\n") + "\n",
                                            policy=email.policy.default)
                  for g in re.split(r"\n\s*\n", raw.replace("\r\n", "\n"))
                  if g.strip()]
    assert len(groups) >= 2, groups
    return (parts[0].get_content(), groups[0], groups[1:],
            parts[2] if len(parts) > 2 else None)


def no_report(p, qid):
    """qid is gone and alice got no report: a sentinel sent to her
    afterwards is the only message in her Maildir."""
    p.wait_log(r"qid=%s removed" % qid)
    p.send([SENDER], sender="sentinel@example.org",
           msg=make_message(subject="sentinel", to=SENDER))
    msgs = p.wait_messages(1, "example.test", "alice")
    assert len(msgs) == 1 and b"Subject: sentinel" in msgs[0], msgs
    assert not re.search(r"qid=%s dsn=" % qid, p.log())


def once(action):
    """A hook that answers with action the first time, normally after;
    .hit is set once it has fired."""
    hit = threading.Event()

    def hook(session, arg):
        if hit.is_set():
            return None
        hit.set()
        return action
    hook.hit = hit
    return hook


# ---- 1. DSNs for remote recipients -------------------------------------

@pytest.mark.parametrize("ret", ["FULL", "HDRS"])
def test_remote_reject_report_ret(petrel_factory, dns, smtp_peer,
                                  netlab_port, ret):
    """A 550 to RCPT: a failure report with the whole message (RET=FULL)
    or its header section only (RET=HDRS); the good recipient is
    delivered once and is not in the report."""
    peer = smtp_peer(ADDRS[20])
    peer.on("rcpt", by_address({"gone@dest.test":
                                "550 5.1.1 <gone@dest.test>: no such user"}))
    one_mx(dns, "dest.test", ADDRS[20])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    qid = send(p, ["gone@dest.test", "bob@dest.test"],
               mail_params="RET=%s ENVID=e-%s" % (ret, ret))
    m, = peer.wait_for_messages(1, timeout=30)
    assert m.recipients == ["bob@dest.test"]
    # The peer has DSN: our RET and ENVID went with the message.
    assert m.mail_params.get("RET") == ret
    rep, = reports(p)
    text, per_msg, rcpts, third = report_parts(
        rep, "Undelivered Mail Returned to Sender")
    assert per_msg["Original-Envelope-Id"] == "e-" + ret
    assert per_msg["X-Petrel-Queue-ID"] == qid
    assert len(rcpts) == 1
    r = rcpts[0]
    assert field(r, "Final-Recipient") == "rfc822;gone@dest.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "5.1.1"
    assert field(r, "Remote-MTA") == "dns;mx1.dest.test"
    assert field(r, "Diagnostic-Code") == \
        "smtp;550 5.1.1 <gone@dest.test>: no such user"
    assert "no such user" in text and "<gone@dest.test>" in text
    if ret == "FULL":
        assert third.get_content_type() == "message/rfc822"
        orig = third.get_payload()[0]
        assert orig["Subject"] == "outbound more"
        assert "the body line" in orig.get_content()
    else:
        assert third.get_content_type() == "text/rfc822-headers"
        hdrs = third.get_payload()
        assert "Subject: outbound more" in hdrs
        assert "the body line" not in hdrs
    assert len(peer.messages) == 1
    assert not p.queue_files()


def test_notify_success_peer_without_dsn(petrel_factory, dns, smtp_peer,
                                         netlab_port):
    """RFC 3461 5.2.2: the peer lacks DSN, so the NOTIFY cannot go on;
    petrel reports the hand-over itself, action "relayed"."""
    peer = smtp_peer(ADDRS[21], extensions=["PIPELINING", "8BITMIME",
                                            "ENHANCEDSTATUSCODES"])
    one_mx(dns, "dest.test", ADDRS[21])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    qid = send(p, ["bob@dest.test"], mail_params="RET=FULL ENVID=rel-1",
               rcpt_params=["NOTIFY=SUCCESS ORCPT=rfc822;bob@dest.test"])
    m, = peer.wait_for_messages(1, timeout=30)
    # No DSN extension: no DSN parameters on the wire.
    assert "RET=" not in m.mail and "ENVID=" not in m.mail
    assert "NOTIFY" not in m.rcpts[0].line and "ORCPT" not in m.rcpts[0].line
    rep, = reports(p)
    _, per_msg, rcpts, third = report_parts(
        rep, "Successful Mail Delivery Report")
    assert per_msg["Original-Envelope-Id"] == "rel-1"
    r, = rcpts
    assert r["Action"] == "relayed"
    assert r["Status"].startswith("2.")
    assert field(r, "Final-Recipient") == "rfc822;bob@dest.test"
    assert field(r, "Original-Recipient") == "rfc822;bob@dest.test"
    assert field(r, "Remote-MTA") == "dns;mx1.dest.test"
    # A success report returns the headers only.
    assert third.get_content_type() == "text/rfc822-headers"
    assert re.search(r"qid=%s dsn=\S+ kind=success rcpts=1" % qid, p.log())


def test_notify_success_peer_with_dsn(petrel_factory, dns, smtp_peer,
                                      netlab_port):
    """RFC 3461 5.2.1: to a peer with DSN, NOTIFY goes on unchanged and the
    peer reports; petrel writes no "relayed" report. A recipient received
    without ORCPT is given one with the address from the RCPT command
    petrel received (here an alias, not the address it expands to), so
    the peer's report names what the sender wrote."""
    peer = smtp_peer(ADDRS[22])
    one_mx(dns, "dest.test", ADDRS[22])
    p = petrel_factory(extra=relay_conf(dns, netlab_port), aliases=[
        "fwd@example.test: carol@dest.test"])
    qid = send(p, ["bob+x=y@dest.test", "fwd@example.test",
                   "dave@dest.test"],
               rcpt_params=["NOTIFY=SUCCESS",
                            "NOTIFY=SUCCESS,DELAY",
                            "NOTIFY=FAILURE ORCPT=rfc822;Dave+2Bx@x.test"])
    m, = peer.wait_for_messages(1, timeout=30)
    got = {rc.address: rc.params for rc in m.rcpts}
    # xtext (RFC 3461 4): "+" and "=" are hex-escaped.
    assert got["bob+x=y@dest.test"] == {
        "NOTIFY": "SUCCESS", "ORCPT": "rfc822;bob+2Bx+3Dy@dest.test"}
    assert got["carol@dest.test"] == {"NOTIFY": "SUCCESS,DELAY",
                                      "ORCPT": "rfc822;fwd@example.test"}
    assert got["dave@dest.test"] == {"NOTIFY": "FAILURE",
                                     "ORCPT": "rfc822;Dave+2Bx@x.test"}
    # No RET and no ENVID were given: none is added.
    assert "RET=" not in m.mail and "ENVID=" not in m.mail
    no_report(p, qid)


def test_no_notify_gives_no_notify_and_no_report(petrel_factory, dns,
                                                  smtp_peer, netlab_port):
    """RFC 3461 5.2.1: no NOTIFY received, none sent; a delivery without
    NOTIFY=SUCCESS is not reported."""
    peer = smtp_peer(ADDRS[23])
    one_mx(dns, "dest.test", ADDRS[23])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    qid = send(p, ["bob@dest.test"])
    m, = peer.wait_for_messages(1, timeout=30)
    assert "NOTIFY" not in m.rcpts[0].params
    no_report(p, qid)


# ---- 2. delay warning and queue lifetime -------------------------------

BUSY = "smtp;450 4.2.1 mailbox busy, try later"


def test_remote_delay_warning_then_expiry(petrel_factory, dns, smtp_peer,
                                          netlab_port):
    """A peer that keeps answering 450: one delay warning after
    delay-warning, then a failure report once queue-lifetime has passed,
    both with the peer's reply; the peer never got the message."""
    peer = smtp_peer(ADDRS[24])
    peer.on("rcpt", BUSY[5:])
    one_mx(dns, "dest.test", ADDRS[24])
    p = petrel_factory(extra=relay_conf(
        dns, netlab_port, "delay-warning 2s", "queue-lifetime 6s"))
    qid = send(p, ["bob@dest.test"], mail_params="ENVID=slow-1")
    wait_until(lambda: p.count("example.test", "alice") >= 1, 30,
               what="the delay warning")
    wait_until(lambda: p.count("example.test", "alice") >= 2, 40,
               what="the failure report")
    delay, failure = reports(p, 2)
    if delay["Subject"] != "Delayed Mail (still being retried)":
        delay, failure = failure, delay
    _, per_msg, rcpts, third = report_parts(
        delay, "Delayed Mail (still being retried)")
    assert per_msg["Original-Envelope-Id"] == "slow-1"
    r, = rcpts
    assert r["Action"] == "delayed"
    assert r["Status"] == "4.2.1"
    assert field(r, "Remote-MTA") == "dns;mx1.dest.test"
    assert field(r, "Diagnostic-Code") == BUSY
    assert r["Will-Retry-Until"]
    assert third.get_content_type() == "text/rfc822-headers"
    text, _, rcpts, third = report_parts(
        failure, "Undelivered Mail Returned to Sender")
    r, = rcpts
    assert r["Action"] == "failed"
    assert r["Status"] == "4.2.1"   # the last temporary status stays
    assert field(r, "Diagnostic-Code") == BUSY
    assert "queue lifetime" in text
    assert third.get_content_type() == "message/rfc822"
    kinds = re.findall(r"qid=%s dsn=\S+ kind=(\w+)" % qid, p.log())
    assert kinds == ["delay", "failure"]
    assert peer.messages == []
    # Retried (over one reused connection), not given up at once.
    assert sum(len(s.transactions) for s in peer.sessions) >= 3
    assert not p.queue_files()


# ---- 3. outbound source address ----------------------------------------

def test_outbound_source_address(petrel_factory, dns, smtp_peer,
                                 netlab_port):
    peer = smtp_peer(ADDRS[25])
    one_mx(dns, "dest.test", ADDRS[25])
    p = petrel_factory(extra=relay_conf(dns, netlab_port,
                                        "outbound-source 127.0.25.33"))
    send(p, ["bob@dest.test"])
    m, = peer.wait_for_messages(1, timeout=30)
    assert m.session.client[0] == "127.0.25.33"
    p.wait_queue_empty()


# ---- 4. stalling peers -------------------------------------------------

TIMEOUTS = ["remote-timeout-connect 3s", "remote-timeout-command 3s",
            "remote-timeout-data 3s"]


@pytest.mark.parametrize("stage,why", [
    ("connect", "timeout waiting for a reply"),
    ("rcpt", "timeout waiting for a reply"),
    ("dot", "timeout waiting for the reply to the end of data"),
])
def test_stalling_peer(petrel_factory, dns, smtp_peer, netlab_port, stage,
                       why):
    """The peer stops answering once (greeting, RCPT, final dot): the
    recipient is deferred with a timeout, the retry delivers it, and it is
    accepted exactly once. While the stalled session waits, mail to
    another domain goes through."""
    peer = smtp_peer(ADDRS[26])
    other = smtp_peer(ADDRS[27])
    hook = once(stall())
    peer.on(stage, hook)
    with dns.batch():
        one_mx(dns, "dest.test", ADDRS[26])
        one_mx(dns, "other.test", ADDRS[27])
    p = petrel_factory(extra=relay_conf(dns, netlab_port, *TIMEOUTS))
    qid = send(p, ["bob@dest.test"])
    assert hook.hit.wait(30), "the peer never reached %s" % stage
    send(p, ["x@other.test"])
    other.wait_for_messages(1, timeout=30)
    # Delivered elsewhere while the first session still hangs.
    assert not peer.sessions[0].ended.is_set()
    p.wait_log(r"qid=%s to=<bob@dest.test> .*code=4\.4\.2 "
               r"status=deferred \(.*%s" % (qid, why))
    m, = peer.wait_for_messages(1, timeout=30)
    p.wait_queue_empty()
    time.sleep(1.5)     # a second copy would come with the next retry
    assert len(peer.messages) == 1
    assert m.recipients == ["bob@dest.test"]
    assert len(re.findall(r"qid=%s to=<bob@dest.test> .*status=sent" % qid,
                          p.log())) == 2   # remote's line and queue's
    if stage == "dot":
        # The peer had the content once without answering: the retry
        # sends it again (RFC 1047); it accepted only the second.
        assert b"the body line" in peer.sessions[0].transactions[0].raw
        assert peer.sessions[0].transactions[0].reply is None


# ---- 5. what the peer lacks ---------------------------------------------

def lacking_peer_report(p, peer, qid, status):
    rep, = reports(p)
    text, _, rcpts, third = report_parts(
        rep, "Undelivered Mail Returned to Sender")
    r, = rcpts
    assert r["Action"] == "failed"
    assert r["Status"] == status
    assert field(r, "Remote-MTA") == "dns;mx1.dest.test"
    assert third is not None
    # Nothing was sent: the peer never saw a MAIL command.
    assert all(not s.transactions for s in peer.sessions)
    assert not any(c.upper().startswith("MAIL") for s in peer.sessions
                   for c in s.commands)
    assert re.search(r"qid=%s to=<[^>]+> .*code=%s status=bounced" %
                     (qid, re.escape(status)), p.log())
    return text, r


def test_size_limit_bounces_without_sending(petrel_factory, dns, smtp_peer,
                                            netlab_port):
    peer = smtp_peer(ADDRS[28], size=1000)
    one_mx(dns, "dest.test", ADDRS[28])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    big = make_message(subject="too big", to="bob@dest.test",
                       sender=SENDER, body="x" * 70 + "\r\n" * 1 +
                       ("y" * 70 + "\r\n") * 30)
    qid = send(p, ["bob@dest.test"], msg=big)
    _, r = lacking_peer_report(p, peer, qid, "5.3.4")
    assert "exceeds the limit" in field(r, "Diagnostic-Code")
    assert "1000" in field(r, "Diagnostic-Code")


def test_8bit_to_peer_without_8bitmime_bounces(petrel_factory, dns,
                                               smtp_peer, netlab_port):
    peer = smtp_peer(ADDRS[29], extensions=["PIPELINING", "SIZE {size}",
                                            "DSN", "ENHANCEDSTATUSCODES"])
    one_mx(dns, "dest.test", ADDRS[29])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    msg = make_message(subject="8bit", to="bob@dest.test", sender=SENDER,
                       body="gr\u00fc\u00dfe aus K\u00f6ln\r\n",
                       extra_headers="MIME-Version: 1.0\r\nContent-Type: "
                       "text/plain; charset=utf-8\r\n"
                       "Content-Transfer-Encoding: 8bit\r\n")
    qid = send(p, ["bob@dest.test"], mail_params="BODY=8BITMIME", msg=msg)
    _, r = lacking_peer_report(p, peer, qid, "5.6.3")
    assert "8BITMIME" in field(r, "Diagnostic-Code")


def test_smtputf8_to_peer_without_it_bounces(petrel_factory, dns,
                                             smtp_peer, netlab_port):
    peer = smtp_peer(ADDRS[30], extensions=["PIPELINING", "8BITMIME",
                                            "DSN", "ENHANCEDSTATUSCODES"])
    one_mx(dns, "dest.test", ADDRS[30])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    rcpt = "j\u00f6rg@dest.test"
    msg = make_message(subject="utf8 address", to=rcpt, sender=SENDER)
    qid = send(p, [rcpt], mail_params="SMTPUTF8", msg=msg)
    text, r = lacking_peer_report(p, peer, qid, "5.6.7")
    assert "SMTPUTF8" in field(r, "Diagnostic-Code")
    assert field(r, "Final-Recipient").lower() in ("utf-8;" + rcpt,
                                            "rfc822;" + rcpt)


# ---- 6. the remote process killed in flight ----------------------------

def test_remote_killed_in_flight(petrel_factory, dns, smtp_peer,
                                 netlab_port):
    """kill -9 of the remote process while the peer sits on the final dot:
    the parent starts a new one, the queue hands the delivery to it again
    and it is delivered; the queue is empty after.

    The duplicate this can make (docs/queue.md, "Remote deliveries"): had
    the peer answered 250 to the dot before the kill, and the result not
    reached the queue, the retry would give the recipient a second copy.
    Here the peer never answered, so it accepted the message exactly
    once; it did see the content twice (the first time unanswered)."""
    peer = smtp_peer(ADDRS[31])
    hook = once(stall())
    peer.on("dot", hook)
    one_mx(dns, "dest.test", ADDRS[31])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    p.expect_log("killed by signal")
    qid = send(p, ["bob@dest.test"])
    assert hook.hit.wait(30)
    old = p.kill_child("remote")
    p.wait_log(r"remote pid=%d killed by signal 9" % old)
    p.wait_log(r"qid=%s remote delivery to dest.test of 1 recipients lost"
               % qid)
    m, = peer.wait_for_messages(1, timeout=60)
    assert m.recipients == ["bob@dest.test"]
    new = p.child_pid("remote")
    assert new is not None and new != old
    p.wait_queue_empty()
    time.sleep(1.5)
    assert len(peer.messages) == 1
    assert len(peer.sessions) == 2
    assert peer.sessions[0].transactions[0].reply is None
    assert b"the body line" in peer.sessions[0].transactions[0].raw
    assert p.count("example.test", "alice") == 0


# ---- 7. IPv6 ------------------------------------------------------------

@pytest.fixture
def peer6(netlab_port):
    peers = []

    def make(addr="::1", **kw):
        """netlab's SmtpPeer on an IPv6 address (skip without IPv6)."""
        try:
            pr = SmtpPeer(addr, netlab_port, **kw)
        except OSError as e:
            pytest.skip("cannot listen on [%s]:%d: %s" % (addr, netlab_port,
                                                          e))
        peers.append(pr)
        return pr
    yield make
    for pr in peers:
        pr.stop()


def test_ipv6_only_mx(petrel_factory, dns, peer6, netlab_port):
    peer = peer6("::1")
    one_mx(dns, "six.test", aaaa=["::1"])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send(p, ["bob@six.test"])
    m, = peer.wait_for_messages(1, timeout=30)
    assert m.recipients == ["bob@six.test"]
    assert m.session.client[0] == "::1"
    p.wait_log(r"to=<bob@six.test> relay=mx1.six.test\[::1\]:%d .*"
               r"status=sent" % netlab_port)
    p.wait_queue_empty()


def test_ipv6_refused_falls_back_to_ipv4(petrel_factory, dns, smtp_peer,
                                         netlab_port):
    """AAAA first (nothing listens on [::1]:port), then the A record."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("::1", netlab_port))     # free: a refused connection
    except OSError as e:
        pytest.skip("[::1]:%d is in use: %s" % (netlab_port, e))
    finally:
        s.close()
    peer = smtp_peer(ADDRS[32])
    one_mx(dns, "dual.test", ADDRS[32], aaaa=["::1"])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    send(p, ["bob@dual.test"])
    m, = peer.wait_for_messages(1, timeout=30)
    assert m.session.client[0].startswith("127.")
    log = p.log()
    assert re.search(r"relay=mx1.dual.test\[::1\]:%d connect: Connection "
                     r"refused" % netlab_port, log), log[-3000:]
    p.wait_log(r"to=<bob@dual.test> relay=mx1.dual.test\[%s\]:%d .*"
               r"status=sent" % (re.escape(ADDRS[32]), netlab_port))
    p.wait_queue_empty()


# ---- 8. host-level permanent failures -----------------------------------

def two_mx(dns, domain, a1, a2):
    dns.zone(domain)
    dns.mx(domain, (10, "mx1." + domain), (20, "mx2." + domain))
    dns.a("mx1." + domain, a1)
    dns.a("mx2." + domain, a2)


def test_every_mx_refuses_with_554_bounces(petrel_factory, dns, smtp_peer,
                                           netlab_port):
    """RFC 5321 3.1, 4.2.1: a 554 greeting (or 5xx to EHLO and HELO) is a
    permanent refusal. When the last MX gave one and no host failed
    temporarily, the recipients bounce at once with the reply's status,
    instead of waiting for the queue lifetime."""
    g1, g2 = smtp_peer(ADDRS[33]), smtp_peer(ADDRS[34])
    for g in (g1, g2):
        g.on("connect", "554 5.7.1 no mail from you here")
    h1, h2 = smtp_peer(ADDRS[35]), smtp_peer(ADDRS[36])
    for h in (h1, h2):
        h.on("ehlo", "550 5.5.1 say HELO")
        h.on("helo", "550 5.7.1 and not that either")
    with dns.batch():
        two_mx(dns, "greet.test", ADDRS[33], ADDRS[34])
        two_mx(dns, "helo.test", ADDRS[35], ADDRS[36])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    qid = send(p, ["a@greet.test", "b@helo.test"],
               mail_params="RET=HDRS")
    rep, = reports(p)
    text, _, rcpts, third = report_parts(
        rep, "Undelivered Mail Returned to Sender")
    by = {field(r, "Final-Recipient"): r for r in rcpts}
    a, b = by["rfc822;a@greet.test"], by["rfc822;b@helo.test"]
    assert a["Action"] == b["Action"] == "failed"
    assert a["Status"] == "5.7.1" and b["Status"] == "5.7.1"
    assert field(a, "Diagnostic-Code") == \
        "smtp;554 5.7.1 no mail from you here"
    assert field(b, "Diagnostic-Code") == "smtp;550 5.7.1 and not that either"
    assert field(a, "Remote-MTA") == "dns;mx2.greet.test"
    assert third.get_content_type() == "text/rfc822-headers"
    # Both hosts were tried, once each, and nothing was sent.
    for g in (g1, g2, h1, h2):
        assert len(g.sessions) == 1 and not g.messages
    assert [s.ehlos for s in h1.sessions] == [["EHLO mx.test",
                                               "HELO mx.test"]]
    assert re.search(r"qid=%s to=<a@greet.test> .*attempts=1 code=5\.7\.1 "
                     r"status=bounced" % qid, p.log())
    assert not p.queue_files()


def test_554_after_a_temporary_failure_defers(petrel_factory, dns,
                                              smtp_peer, netlab_port):
    """A host that failed temporarily (421 greeting; a refused connection)
    might take the mail later: then a 554 elsewhere only defers."""
    t1, t2 = smtp_peer(ADDRS[37]), smtp_peer(ADDRS[38])
    t1.on("connect", "421 4.3.2 busy, later")
    t2.on("connect", "554 5.7.1 go away")
    r2 = smtp_peer(ADDRS[39])
    r2.on("connect", "554 5.7.1 go away")
    with dns.batch():
        two_mx(dns, "tmp.test", ADDRS[37], ADDRS[38])
        # mx2 is the 554 one, mx1 refuses connections
        two_mx(dns, "ref.test", ADDRS[19], ADDRS[39])
    p = petrel_factory(extra=relay_conf(dns, netlab_port))
    qid = send(p, ["a@tmp.test", "b@ref.test"])
    for rc in ("a@tmp.test", "b@ref.test"):
        p.wait_log(r"qid=%s to=<%s> .*status=deferred" % (qid, rc))
    # And the other way round: 554 first, then the temporary failure.
    t1.on("connect", "554 5.7.1 go away")
    t2.on("connect", "421 4.3.2 busy, later")
    n = len(t2.sessions)
    wait_until(lambda: len(t2.sessions) > n + 1, 20, what="two more tries")
    log = p.log()
    assert not re.search(r"qid=%s .*status=bounced" % qid, log)
    assert p.count("example.test", "alice") == 0
    assert any(qid in f for f in p.queue_files())
