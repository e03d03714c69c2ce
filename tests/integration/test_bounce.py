"""Delivery status notifications (RFC 3461, RFC 3464) written by the queue
for local recipients, read back with Python's email package.

Ways a local recipient fails here, all real:
- for good at once: an alias that loops (loop1 -> loop2 -> loop1) is
  accepted at RCPT, and its expansion at the end of DATA fails, so the
  recipient is failed when the message is committed ("5.1.1");
- temporarily: a Maildir the delivery user may not enter (as in
  test_delivery_retry.py), retried every second; with a short
  delay-warning that gives a delay notice, with a short queue-lifetime a
  failure notice once the lifetime has passed.
The reports go to the original sender, alice@example.test, a local
mailbox, so they arrive in her Maildir through the normal delivery path.
"""
import email
import email.policy
import email.utils
import os
import re

import pytest

from conftest import dot_stuff, make_message, queued_id, wait_until

SENDER = "alice@example.test"


def send(srv, rcpts, sender=SENDER, mail_params="", rcpt_params=None,
         subject="bounce test", body="hello bounce\r\n"):
    """One message with ESMTP parameters; returns its queue ID.
    rcpt_params: a list parallel to rcpts (strings, "" for none)."""
    rcpt_params = rcpt_params or [""] * len(rcpts)
    with srv.connect() as c:
        ext = c.extensions(c.ehlo())
        assert "DSN" in ext, ext
        r = c.cmd("MAIL FROM:<%s>%s" % (
            sender, (" " + mail_params) if mail_params else ""))
        assert r.code == 250, r
        for rc, p in zip(rcpts, rcpt_params):
            r = c.cmd("RCPT TO:<%s>%s" % (rc, (" " + p) if p else ""))
            assert r.code == 250, r
        assert c.cmd("DATA").code == 354
        c.send(dot_stuff(make_message(subject=subject, body=body,
                                      sender=sender, to=rcpts[0])) +
               b".\r\n")
        qid = queued_id(c.read_reply())
        c.quit()
    return qid


def reports(srv, user="alice", domain="example.test"):
    """The messages in a Maildir, parsed."""
    return [email.message_from_bytes(raw, policy=email.policy.default)
            for raw in srv.messages(domain, user)]


def check_report(rep, subject):
    """The common shape of a report; returns (text, per-message fields,
    per-recipient field groups, third part or None)."""
    assert rep["Return-Path"] == "<>"
    assert email.utils.parseaddr(str(rep["From"])) == \
        ("Mail Delivery System", "MAILER-DAEMON@mx.test")
    assert email.utils.parseaddr(str(rep["To"])) == ("", SENDER)
    assert rep["Subject"] == subject
    assert rep["Auto-Submitted"] == "auto-replied"
    assert rep["MIME-Version"] == "1.0"
    assert rep["Date"] and rep["Message-ID"]
    assert rep.get_content_type() == "multipart/report"
    assert rep.get_param("report-type") == "delivery-status"
    parts = list(rep.iter_parts())
    assert 2 <= len(parts) <= 3, [p.get_content_type() for p in parts]
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() == "message/delivery-status"
    groups = parts[1].get_payload()
    assert len(groups) >= 2, groups
    per_msg = groups[0]
    assert per_msg["Reporting-MTA"] == "dns; mx.test"
    assert per_msg["Arrival-Date"]
    email.utils.parsedate_to_datetime(per_msg["Arrival-Date"])
    return (parts[0].get_content(), per_msg, groups[1:],
            parts[2] if len(parts) == 3 else None)


def dsn_log(srv, qid):
    return re.findall(r"qid=%s dsn=([0-9A-F]{16}) kind=(\w+) rcpts=(\d+)"
                      % qid, srv.log())


def no_report_for(srv, qid):
    """The message is gone without a report, and alice got nothing: a
    sentinel sent to her afterwards is her only message."""
    srv.wait_log(r"qid=%s removed" % qid)
    srv.send([SENDER], make_message(subject="sentinel", to=SENDER))
    msgs = srv.wait_messages(1, "example.test", "alice")
    assert len(msgs) == 1 and b"Subject: sentinel" in msgs[0], msgs
    assert dsn_log(srv, qid) == []


def block_mailbox(srv, domain="localhost", user="demo"):
    """Makes user's Maildir one the delivery user may not enter."""
    mail = srv.mail_dir()
    os.makedirs(os.path.join(mail, domain), exist_ok=True)
    os.chmod(os.path.join(mail, domain), 0o755)
    box = os.path.join(mail, domain, user)
    os.mkdir(box, 0o000)
    os.chmod(box, 0o000)
    return box


def unblock_mailbox(srv, box):
    owner = os.stat(srv.mail_dir())
    os.chown(box, owner.st_uid, owner.st_gid)
    os.chmod(box, 0o700)


# ---- failures ----

def test_failure_report_full(petrel):
    """A recipient that fails for good: one report with the whole message
    (no RET: FULL is the default for failures), ENVID and ORCPT decoded
    from xtext."""
    qid = send(petrel, ["loop1@example.test"], mail_params="ENVID=env-42+2Bx",
               rcpt_params=["NOTIFY=FAILURE ORCPT=rfc822;Orig+2Bx@example.test"])
    msgs = petrel.wait_messages(1, "example.test", "alice")
    assert len(msgs) == 1
    text, per_msg, rcpts, third = check_report(
        reports(petrel)[0], "Undelivered Mail Returned to Sender")
    assert per_msg["Original-Envelope-Id"] == "env-42+x"
    assert per_msg["X-Petrel-Queue-ID"] == qid
    assert len(rcpts) == 1
    r = rcpts[0]
    assert r["Original-Recipient"] == "rfc822;Orig+x@example.test"
    assert r["Final-Recipient"] == "rfc822;loop1@example.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "5.1.1"
    assert r["Diagnostic-Code"].startswith("X-Petrel; 5.1.1 ")
    assert r["Last-Attempt-Date"]
    assert "<loop1@example.test>" in text
    assert third.get_content_type() == "message/rfc822"
    orig = third.get_payload()[0]
    assert orig["Subject"] == "bounce test"
    assert "hello bounce" in orig.get_content()
    [(dsn_qid, kind, n)] = dsn_log(petrel, qid)
    assert (kind, n) == ("failure", "1")
    # The original is gone, the report delivered: an empty queue.
    assert not petrel.queue_files()


def test_failure_report_headers_only(petrel):
    """RET=HDRS: the third part is text/rfc822-headers, without body."""
    send(petrel, ["loop1@example.test"], mail_params="RET=HDRS")
    petrel.wait_messages(1, "example.test", "alice")
    _, per_msg, rcpts, third = check_report(
        reports(petrel)[0], "Undelivered Mail Returned to Sender")
    assert "Original-Envelope-Id" not in per_msg
    assert "Original-Recipient" not in rcpts[0]
    assert third.get_content_type() == "text/rfc822-headers"
    hdrs = third.get_payload()
    assert "Subject: bounce test" in hdrs
    assert "hello bounce" not in hdrs


def test_two_failures_one_report(petrel):
    """Recipients that fail together are reported together."""
    qid = send(petrel, ["loop1@example.test", "loop2@example.test"],
               rcpt_params=["ORCPT=rfc822;loop1@example.test",
                            "ORCPT=rfc822;loop2@example.test"])
    msgs = petrel.wait_messages(1, "example.test", "alice")
    assert len(msgs) == 1
    _, _, rcpts, _ = check_report(reports(petrel)[0],
                                  "Undelivered Mail Returned to Sender")
    finals = sorted(r["Final-Recipient"] for r in rcpts)
    assert finals == ["rfc822;loop1@example.test",
                      "rfc822;loop2@example.test"]
    assert sorted(r["Original-Recipient"] for r in rcpts) == \
        ["rfc822;loop1@example.test", "rfc822;loop2@example.test"]
    assert all(r["Action"] == "failed" for r in rcpts)
    [(_, kind, n)] = dsn_log(petrel, qid)
    assert (kind, n) == ("failure", "2")


def test_notify_never_gives_nothing(petrel):
    qid = send(petrel, ["loop1@example.test"], rcpt_params=["NOTIFY=NEVER"])
    no_report_for(petrel, qid)


def test_notify_success_only_gives_no_failure_report(petrel):
    qid = send(petrel, ["loop1@example.test"], rcpt_params=["NOTIFY=SUCCESS"])
    no_report_for(petrel, qid)


def test_bounce_of_null_sender_gives_nothing(petrel):
    """Never bounce a bounce: a message from <> that fails is dropped."""
    qid = send(petrel, ["loop1@example.test"], sender="")
    no_report_for(petrel, qid)


def test_partial_failure_keeps_good_delivery(petrel):
    """One recipient delivered, one failed: only the failed one is in the
    report, and the good one got the message once."""
    qid = send(petrel, ["demo@localhost", "loop1@example.test"])
    petrel.wait_messages(1, "example.test", "alice")
    _, _, rcpts, _ = check_report(reports(petrel)[0],
                                  "Undelivered Mail Returned to Sender")
    assert [r["Final-Recipient"] for r in rcpts] == \
        ["rfc822;loop1@example.test"]
    assert petrel.count("localhost", "demo") == 1
    assert dsn_log(petrel, qid)[0][1:] == ("failure", "1")


def test_report_to_remote_sender_waits_for_remote(petrel):
    """The report to a sender in another domain is queued for remote
    delivery (deferred: the tests have no DNS), and the original message
    is gone."""
    qid = send(petrel, ["loop1@example.test"], sender="someone@remote.example")
    [(dsn_qid, kind, _)] = wait_until(lambda: dsn_log(petrel, qid),
                                      what="the report in the log")
    petrel.wait_log(r"qid=%s removed" % qid)
    files = petrel.queue_files()
    assert os.path.join("queue", dsn_qid) in files, files
    assert set(files) <= {os.path.join("queue", dsn_qid),
                          os.path.join("queue", dsn_qid + ".st")}, files
    out = __import__("subprocess").run(
        [petrel.bin, "queue", "list", "--config", petrel.conf_path],
        capture_output=True, text=True, timeout=60).stdout
    assert re.search(r"^%s \S+ \d+ <>$" % dsn_qid, out, re.M), out
    assert re.search(r"^  (pending|deferred) +<someone@remote.example>", out,
                     re.M), out


# ---- success ----

def test_success_report_for_local_delivery(petrel):
    """NOTIFY=SUCCESS: delivered, and a "delivered" report with the
    headers only."""
    qid = send(petrel, ["demo@localhost"],
               rcpt_params=["NOTIFY=SUCCESS,FAILURE"])
    petrel.wait_messages(1, "example.test", "alice")
    assert petrel.count("localhost", "demo") == 1
    _, _, rcpts, third = check_report(reports(petrel)[0],
                                      "Successful Mail Delivery Report")
    assert rcpts[0]["Action"] == "delivered"
    assert rcpts[0]["Status"] == "2.0.0"
    assert third.get_content_type() == "text/rfc822-headers"
    assert dsn_log(petrel, qid)[0][1:] == ("success", "1")


# ---- delays and expiry ----

@pytest.mark.petrel_conf("retry-min 1s", "retry-max 1s", "delay-warning 2s")
def test_delay_warning_once(petrel):
    box = block_mailbox(petrel)
    qid = send(petrel, ["demo@localhost"], mail_params="ENVID=delay-1")
    wait_until(lambda: petrel.count("example.test", "alice") >= 1, 30,
               what="the delay warning")
    _, per_msg, rcpts, third = check_report(
        reports(petrel)[0], "Delayed Mail (still being retried)")
    assert per_msg["Original-Envelope-Id"] == "delay-1"
    r = rcpts[0]
    assert r["Final-Recipient"] == "rfc822;demo@localhost"
    assert r["Action"] == "delayed"
    assert r["Status"] == "4.2.0"
    assert r["Diagnostic-Code"].startswith("X-Petrel; maildir:")
    assert r["Will-Retry-Until"] and r["Last-Attempt-Date"]
    assert third.get_content_type() == "text/rfc822-headers"
    # Retries go on, without a second warning.
    n = petrel.log().count("qid=%s to=<demo@localhost>" % qid)
    wait_until(lambda: petrel.log().count(
        "qid=%s to=<demo@localhost>" % qid) >= n + 2, 30,
        what="two more attempts")
    assert len(dsn_log(petrel, qid)) == 1
    assert petrel.count("example.test", "alice") == 1
    unblock_mailbox(petrel, box)
    petrel.wait_messages(1, "localhost", "demo")
    assert petrel.count("example.test", "alice") == 1


@pytest.mark.petrel_conf("retry-min 1s", "retry-max 1s", "delay-warning 2s")
def test_no_delay_warning_without_notify_delay(petrel):
    box = block_mailbox(petrel)
    qid = send(petrel, ["demo@localhost"], rcpt_params=["NOTIFY=FAILURE"])
    n = petrel.log().count("qid=%s to=<demo@localhost>" % qid)
    wait_until(lambda: petrel.log().count(
        "qid=%s to=<demo@localhost>" % qid) >= n + 4, 30,
        what="attempts past the delay-warning time")
    assert dsn_log(petrel, qid) == []
    unblock_mailbox(petrel, box)
    petrel.wait_messages(1, "localhost", "demo")
    assert petrel.count("example.test", "alice") == 0


@pytest.mark.petrel_conf("retry-min 1s", "retry-max 1s", "queue-lifetime 3s",
                         "delay-warning 0")
def test_lifetime_expiry_bounces(petrel):
    box = block_mailbox(petrel)
    qid = send(petrel, ["demo@localhost"],
               rcpt_params=["ORCPT=rfc822;demo@localhost"])
    petrel.wait_messages(1, "example.test", "alice", timeout=60)
    text, _, rcpts, third = check_report(
        reports(petrel)[0], "Undelivered Mail Returned to Sender")
    r = rcpts[0]
    assert r["Original-Recipient"] == "rfc822;demo@localhost"
    assert r["Action"] == "failed"
    # The last temporary status stays; the text says why it gave up.
    assert r["Status"] == "4.2.0"
    assert r["Diagnostic-Code"].startswith("X-Petrel; maildir:")
    assert "queue lifetime" in text
    assert third.get_content_type() == "message/rfc822"
    assert "lifetime expired" in petrel.log()
    assert dsn_log(petrel, qid)[0][1:] == ("failure", "1")
    assert not petrel.queue_files()
    unblock_mailbox(petrel, box)
