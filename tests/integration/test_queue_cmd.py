"""The queue tools (`petrel queue list|show|delete|hold|release|flush`)
and `petrel reload`, which talk to the running server over
STATE/control.sock: listings and their states, deletes and holds also while
a delivery is in flight, holds that survive a restart and a kill -9 of the
queue process, flush of deferred deliveries, errors (unknown ID, server
not running, malformed requests) and the raw control protocol.

Messages stay in the queue because their recipient is remote (an alias to
another domain, or a relay-from client): outbound delivery does not exist
yet. A delivery is kept "in flight" by stopping the local process with
SIGSTOP.
"""
import os
import re
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import (DEFAULT_ALIASES, PETREL_BIN, dot_stuff, free_ports,
                      make_message, queued_id, wait_until)

REMOTE = "someone@remote.example"
ALIASES = DEFAULT_ALIASES + ["fwd@example.test: %s" % REMOTE]
MISSING = "0123456789ABCDEF"


# ---- helpers ----

def pq(srv, *args):
    """Runs `petrel queue ARGS --config CONF`; the CompletedProcess."""
    return subprocess.run([srv.bin, "queue"] + list(args) +
                          ["--config", srv.conf_path],
                          capture_output=True, text=True, timeout=120)


def ok(srv, *args):
    r = pq(srv, *args)
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r.stdout


MSG_RE = re.compile(r"^([0-9A-F]{16}) (\d+[smhd]) (\d+) <(.*)>( held)?$")
RCPT_RE = re.compile(r"^  (pending|deferred|delivered|failed|held) +"
                     r"<(.*?)>(?: \(for <(.*?)>\))?(?:: (.*))?$")
SUM_RE = re.compile(r"^(\d+) messages?, (\d+) held$")


def listing(srv):
    """`queue list` parsed: {qid: {sender, held, size, rcpts: [...]}};
    checks the summary line."""
    out = ok(srv, "list")
    msgs, cur, summary = {}, None, None
    for ln in out.splitlines():
        assert summary is None, "line after the summary: %r" % out
        m = MSG_RE.match(ln)
        if m:
            cur = {"qid": m.group(1), "age": m.group(2),
                   "size": int(m.group(3)), "sender": m.group(4),
                   "held": bool(m.group(5)), "rcpts": []}
            msgs[cur["qid"]] = cur
            continue
        m = RCPT_RE.match(ln)
        if m:
            assert cur is not None, out
            cur["rcpts"].append({"state": m.group(1), "dest": m.group(2),
                                 "orig": m.group(3), "error": m.group(4)})
            continue
        m = SUM_RE.match(ln)
        assert m, "unexpected line %r in %r" % (ln, out)
        summary = (int(m.group(1)), int(m.group(2)))
    assert summary == (len(msgs), sum(m["held"] for m in msgs.values())), \
        out
    return msgs


def states(msg):
    return {r["dest"]: r["state"] for r in msg["rcpts"]}


def send_mixed(srv, subject="queue tools", extra_headers=""):
    """One message for demo@localhost (delivered) and fwd@example.test (an
    alias to a remote address: stays queued). Returns its queue ID."""
    return srv.send(["fwd@example.test", "demo@localhost"],
                    make_message(subject=subject, to="fwd@example.test",
                                 extra_headers=extra_headers))


def spool_names(srv, sub):
    try:
        return sorted(os.listdir(os.path.join(srv.spool_dir(), sub)))
    except FileNotFoundError:
        return []


@pytest.fixture
def qsrv(request, petrel_factory):
    """A petrel whose alias fwd@example.test points to a remote address;
    honours @pytest.mark.petrel_expect_log like the `petrel` fixture."""
    srv = petrel_factory(aliases=ALIASES)
    e = request.node.get_closest_marker("petrel_expect_log")
    if e:
        srv.expect_log(*e.args)
    return srv


class Stopped:
    """Keeps the local delivery process stopped (SIGSTOP) inside the
    block, so deliveries stay in flight; always continues it."""

    def __init__(self, srv):
        self.srv = srv

    def __enter__(self):
        self.pid = wait_until(lambda: self.srv.child_pid("local"),
                              what="the local process")
        os.kill(self.pid, signal.SIGSTOP)
        return self

    def cont(self):
        if self.pid is not None:
            os.kill(self.pid, signal.SIGCONT)
            self.pid = None

    def __exit__(self, *a):
        self.cont()


def wait_in_flight(srv, qid):
    wait_until(lambda: "next attempt: in flight now" in ok(srv, "show", qid),
               what="a delivery of %s in flight" % qid)


# ---- list and show ----

def test_list_and_show(qsrv):
    with qsrv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@example.org> RET=HDRS ENVID=env-123"
                     ).code == 250
        assert c.cmd("RCPT TO:<fwd@example.test> NOTIFY=SUCCESS,FAILURE "
                     "ORCPT=rfc822;fwd@example.test").code == 250
        assert c.cmd("RCPT TO:<demo@localhost>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(dot_stuff(make_message(
            subject="queue tools test", to="fwd@example.test",
            extra_headers="X-Odd: a\x1b[31mb\r\n")) + b".\r\n")
        qid = queued_id(c.read_reply())
        c.quit()

    msgs = wait_until(lambda: (lambda m: m if m.get(qid) and
                               states(m[qid]).get("demo@localhost") ==
                               "delivered" else None)(listing(qsrv)),
                      what="demo delivered in the listing")
    m = msgs[qid]
    assert m["sender"] == "s@example.org" and not m["held"]
    assert m["size"] > 100
    # The remote recipient waits: tried (no DNS in the tests) or not yet.
    assert states(m)["demo@localhost"] == "delivered"
    assert states(m)[REMOTE] in ("pending", "deferred")
    remote = [r for r in m["rcpts"] if r["dest"] == REMOTE][0]
    assert remote["orig"] == "fwd@example.test"

    out = ok(qsrv, "show", qid)
    lines = out.splitlines()
    for want in ("id: " + qid, "status: queued", "sender: <s@example.org>",
                 "envid: env-123", "ret: HDRS", "recipients: 2",
                 "recipient: <%s>" % REMOTE,
                 "  rcpt to: <fwd@example.test>",
                 "  orcpt: rfc822;fwd@example.test",
                 "  notify: SUCCESS,FAILURE",
                 "recipient: <demo@localhost>", "  state: delivered",
                 "  mailbox: localhost/demo", "headers:",
                 "  Subject: queue tools test",
                 "  X-Odd: a\\x1B[31mb"):
        assert want in lines, (want, out)
    assert any(ln.startswith("arrival: ") for ln in lines)
    assert any(ln.startswith("  Received: from ") for ln in lines)
    # Headers only: not the body.
    assert "hello" not in out
    # No control character reaches the terminal.
    assert not re.search(r"[\x00-\x08\x0a-\x1f\x7f]", out.replace("\n", ""))


def test_list_empty(qsrv):
    assert ok(qsrv, "list") == "0 messages, 0 held\n"


# ---- delete ----

def test_delete(qsrv):
    keep = send_mixed(qsrv, "keep")
    qid = send_mixed(qsrv, "delete me")
    wait_until(lambda: qid in listing(qsrv), what="the message listed")
    assert qid in spool_names(qsrv, "queue")
    out = ok(qsrv, "delete", qid)
    # A remote attempt (failing: no DNS in the tests) may be in flight.
    assert re.match(r"%s deleted( \(\d+ deliveries in flight: their "
                    r"results will be ignored\))?\n$" % qid, out), out
    msgs = listing(qsrv)
    assert qid not in msgs and keep in msgs
    assert not [n for n in spool_names(qsrv, "queue") + spool_names(
        qsrv, "hold") if n.startswith(qid)]
    r = pq(qsrv, "delete", qid)
    assert r.returncode == 1
    assert "no message %s in the queue" % qid in r.stderr
    # Gone for good: not back after a restart.
    qsrv.restart()
    assert list(listing(qsrv)) == [keep]


def test_delete_while_in_flight(qsrv):
    with Stopped(qsrv) as st:
        qid = send_mixed(qsrv, "in flight")
        wait_in_flight(qsrv, qid)
        out = ok(qsrv, "delete", qid)
        assert re.search(r"deleted \(\d+ deliveries in flight", out), out
        assert qid not in listing(qsrv)
        assert not spool_names(qsrv, "queue")
        st.cont()
        qsrv.wait_log(r"qid=%s to=<demo@localhost> result=delivered "
                      r"ignored: message deleted" % qid)
    # Nothing was written for the deleted message; the server is fine.
    assert not spool_names(qsrv, "queue") and not spool_names(qsrv, "hold")
    assert listing(qsrv) == {}
    qid2 = send_mixed(qsrv, "after")
    wait_until(lambda: states(listing(qsrv)[qid2]).get("demo@localhost") ==
               "delivered", what="the next message delivered")


# ---- hold and release ----

def test_hold_restart_release(qsrv):
    qid = send_mixed(qsrv, "hold me")
    other = send_mixed(qsrv, "not held")
    wait_until(lambda: qid in listing(qsrv), what="the message listed")
    assert re.match(r"%s held( \(\d+ deliveries in flight record their "
                    r"result first\))?\n$" % qid, ok(qsrv, "hold", qid))
    assert qid in spool_names(qsrv, "hold")
    assert qid not in spool_names(qsrv, "queue")
    m = listing(qsrv)
    assert m[qid]["held"] and not m[other]["held"]
    assert states(m[qid])[REMOTE] == "held"
    assert "status: held" in ok(qsrv, "show", qid).splitlines()
    # A second hold is harmless.
    assert ok(qsrv, "hold", qid) == "%s is already on hold\n" % qid
    r = pq(qsrv, "release", other)
    assert r.returncode == 1 and "is not on hold" in r.stderr
    # Deliveries that were in flight at the hold record their results in
    # hold/ (the remote attempt fails at once: no DNS in the tests).
    wait_until(lambda: qid + ".st" in spool_names(qsrv, "hold") and
               states(listing(qsrv)[qid]).get("demo@localhost") ==
               "delivered", what="the results recorded in hold/")

    qsrv.restart()
    m = listing(qsrv)
    assert m[qid]["held"] and not m[other]["held"]
    assert states(m[qid]) == {REMOTE: "held", "demo@localhost": "delivered"}
    assert qid in spool_names(qsrv, "hold")

    assert ok(qsrv, "release", qid) == "%s released\n" % qid
    assert qid in spool_names(qsrv, "queue")
    assert not spool_names(qsrv, "hold")
    m = listing(qsrv)
    assert not m[qid]["held"]
    assert states(m[qid])[REMOTE] in ("pending", "deferred")
    # Released messages are scheduled again, and were delivered once.
    assert qsrv.count() == 2


@pytest.mark.petrel_expect_log("killed by signal")
def test_hold_survives_kill9(qsrv):
    qid = send_mixed(qsrv, "hold me")
    other = send_mixed(qsrv, "not held")
    wait_until(lambda: other in listing(qsrv), what="the messages listed")
    ok(qsrv, "hold", qid)
    old = qsrv.kill_child("queue")
    wait_until(lambda: qsrv.child_pid("queue") not in (None, old),
               what="a new queue process")
    msgs = wait_until(lambda: (lambda r: r.returncode == 0 and
                               listing(qsrv))(pq(qsrv, "list")),
                      what="the new queue process to answer")
    assert set(msgs) == {qid, other}
    assert msgs[qid]["held"] and not msgs[other]["held"]
    # The whole server killed: still held, nothing lost.
    qsrv.kill9()
    qsrv.start()
    msgs = listing(qsrv)
    assert set(msgs) == {qid, other}
    assert msgs[qid]["held"] and not msgs[other]["held"]
    assert qid in spool_names(qsrv, "hold")
    ok(qsrv, "release", qid)
    assert not listing(qsrv)[qid]["held"]


def test_hold_while_in_flight(qsrv):
    with Stopped(qsrv) as st:
        qid = send_mixed(qsrv, "hold in flight")
        wait_in_flight(qsrv, qid)
        out = ok(qsrv, "hold", qid)
        assert re.search(r"held \(\d+ deliveries in flight record their "
                         r"result first\)", out), out
        assert qid in spool_names(qsrv, "hold")
        st.cont()
        # The delivery in flight finishes and is recorded in hold/.
        wait_until(lambda: states(listing(qsrv)[qid]).get(
            "demo@localhost") == "delivered", what="the result recorded")
    # Saved once the remote attempt (no DNS here) is back too.
    wait_until(lambda: spool_names(qsrv, "hold") == [qid, qid + ".st"],
               what="the state saved in hold/")
    assert not spool_names(qsrv, "queue")
    m = listing(qsrv)[qid]
    assert m["held"] and states(m)[REMOTE] == "held"
    qsrv.restart()
    m = listing(qsrv)[qid]
    assert m["held"]
    assert states(m) == {REMOTE: "held", "demo@localhost": "delivered"}
    assert qsrv.count() == 1


# ---- flush ----

@pytest.mark.petrel_conf("retry-min 1h", "retry-max 2h")
def test_flush_retries_deferred(petrel):
    mail = petrel.mail_dir()
    owner = os.stat(mail)
    box = os.path.join(mail, "localhost", "demo")
    os.makedirs(os.path.join(mail, "localhost"), exist_ok=True)
    os.chmod(os.path.join(mail, "localhost"), 0o755)
    os.mkdir(box, 0o000)
    os.chmod(box, 0o000)
    qid = petrel.send(msg=make_message(subject="flush me"))
    m = wait_until(lambda: (lambda l: l.get(qid) if l.get(qid) and states(
        l[qid]).get("demo@localhost") == "deferred" else None)(
            listing(petrel)), what="a deferred delivery")
    err = m["rcpts"][0]["error"]
    assert err and err.startswith("maildir: "), m
    show = ok(petrel, "show", qid)
    assert re.search(r"^  next attempt: .* \(in (59m|60m|1h)\)$", show,
                     re.M), show
    assert "  attempts: 1" in show.splitlines()

    os.chown(box, owner.st_uid, owner.st_gid)
    os.chmod(box, 0o700)
    assert ok(petrel, "flush") == \
        "1 deferred message scheduled for delivery now\n"
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1 and b"Subject: flush me" in msgs[0]
    assert listing(petrel) == {}


def test_flush_leaves_held(qsrv):
    qid = send_mixed(qsrv)
    wait_until(lambda: qid in listing(qsrv), what="the message listed")
    ok(qsrv, "hold", qid)
    assert ok(qsrv, "flush") == \
        "0 deferred messages scheduled for delivery now\n"
    assert listing(qsrv)[qid]["held"]


# ---- errors ----

def test_unknown_id(qsrv):
    for verb in ("show", "delete", "hold", "release"):
        r = pq(qsrv, verb, MISSING)
        assert r.returncode == 1, (verb, r)
        assert r.stderr == "petrel: no message %s in the queue\n" % MISSING
        assert r.stdout == ""


def test_usage_errors(qsrv):
    for args in ([], ["frobnicate"], ["list", "extra"], ["show"],
                 ["delete", MISSING, MISSING], ["--bogus", "list"],
                 ["flush", MISSING]):
        r = pq(qsrv, *args)
        assert r.returncode == 2, (args, r)
        assert "usage:" in r.stderr
    for bad in ("0123456789abcdef", "0123", "../../etc/passwd",
                MISSING + "0"):
        r = pq(qsrv, "show", bad)
        assert r.returncode == 2, (bad, r)
        assert "is not a queue ID" in r.stderr
    r = subprocess.run([PETREL_BIN, "queue", "list", "--config",
                        "/nonexistent/petrel.conf"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "/nonexistent/petrel.conf" in r.stderr


def test_server_not_running(petrel_factory):
    srv = petrel_factory(start=False)
    sock = os.path.join(srv.state, "control.sock")
    for args in (["list"], ["hold", MISSING], ["flush"]):
        r = pq(srv, *args)
        assert r.returncode == 1, r
        assert r.stderr.startswith(
            "petrel: cannot reach the running petrel at %s: " % sock), r
    # After a stop, the socket is gone and the message the same.
    srv.start()
    assert os.path.exists(sock)
    srv.stop()
    assert not os.path.exists(sock)
    r = pq(srv, "list")
    assert r.returncode == 1 and "cannot reach the running petrel" in r.stderr


def test_embedded_default_state_dir():
    """Without --config the tools look in ./petrel-data, like `petrel
    serve`, and create nothing there."""
    d = tempfile.mkdtemp(prefix="petrel-qt-")
    try:
        r = subprocess.run([PETREL_BIN, "queue", "list"], cwd=d,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1
        assert ("cannot reach the running petrel at %s/petrel-data/"
                "control.sock: " % os.path.realpath(d)) in r.stderr, r
        assert os.listdir(d) == []
    finally:
        os.rmdir(d)


@pytest.mark.petrel_expect_log("killed by signal")
def test_stale_socket_after_kill9(qsrv):
    qsrv.kill9()
    sock = os.path.join(qsrv.state, "control.sock")
    assert os.path.exists(sock)
    r = pq(qsrv, "list")
    assert r.returncode == 1 and "cannot reach the running petrel" in r.stderr
    qsrv.start()
    assert ok(qsrv, "list") == "0 messages, 0 held\n"


def test_second_server_same_state_refused(qsrv):
    """A second `petrel serve` on the same state directory (other ports)
    stops at start-up instead of taking the control socket away."""
    text = qsrv.config_text()
    for role, port in zip(("mx", "submission", "submissions"),
                          free_ports(3)):
        text = text.replace("127.0.0.1:%d %s" % (qsrv.ports[role], role),
                            "127.0.0.1:%d %s" % (port, role))
    other = os.path.join(qsrv.state, "other.conf")
    with open(other, "w") as f:
        f.write(text)
    r = subprocess.run([qsrv.bin, "serve", "--config", other],
                       capture_output=True, text=True, timeout=60,
                       cwd=qsrv.state)
    assert r.returncode == 1, r
    assert "another petrel is running with this state directory" in \
        r.stdout + r.stderr
    assert ok(qsrv, "list") == "0 messages, 0 held\n"


# ---- reload ----

def rcpt_code(srv, address):
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@example.org>").code == 250
        code = c.cmd("RCPT TO:<%s>" % address).code
        c.quit()
    return code


def reload(srv):
    return subprocess.run([srv.bin, "reload", "--config", srv.conf_path],
                          capture_output=True, text=True, timeout=120)


def test_reload(petrel):
    assert rcpt_code(petrel, "carol@example.test") == 550
    petrel.users.append("carol@example.test")
    petrel.write_users()
    r = reload(petrel)
    assert r.returncode == 0, r
    assert r.stdout == "configuration reloaded\n"
    # The smtp process applies it when it reads the parent's message.
    wait_until(lambda: rcpt_code(petrel, "carol@example.test") == 250,
               interval=0.1, what="carol known after the reload")
    petrel.wait_log(r"control: uid=0 request=\"reload\"")


def test_reload_error_keeps_running(petrel):
    with open(petrel.conf_path, "a") as f:
        f.write("this-is-not-a-keyword yes\n")
    r = reload(petrel)
    assert r.returncode == 1
    assert r.stderr.startswith("petrel: ") and \
        "this-is-not-a-keyword" in r.stderr, r
    assert petrel.running()
    assert rcpt_code(petrel, "demo@localhost") == 250
    petrel.write_config()
    assert reload(petrel).returncode == 0


# ---- the raw protocol ----

def raw(srv, data, read=True):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(os.path.join(srv.state, "control.sock"))
    s.sendall(data)
    out = b""
    if read:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    s.close()
    return out


def test_protocol(qsrv):
    sock = os.path.join(qsrv.state, "control.sock")
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()

    assert raw(qsrv, b"queue list\n") == b"+0 messages, 0 held\nok\n"
    assert raw(qsrv, b"bogus\n") == b"error: unknown request 'bogus'\n"
    assert raw(qsrv, b"queue show abc\n").startswith(
        b"error: 'abc' is not a queue ID")
    assert raw(qsrv, b"queue  list\n").startswith(b"error: malformed")
    assert raw(qsrv, b"queue list\r\n").startswith(b"error: malformed")
    assert raw(qsrv, b"Queue list\n").startswith(b"error: unknown request")
    assert raw(qsrv, b"queue list extra\n").startswith(
        b"error: unknown request")
    # (Exactly the limit: more would be unread at close, and the client
    # might see a reset instead of the answer.)
    assert raw(qsrv, b"x" * 4096) == b"error: request too long\n"
    assert raw(qsrv, b"queue show " + MISSING.encode() + b"\n") == \
        b"error: no message %s in the queue\n" % MISSING.encode()
    # A client that goes away early does no harm.
    raw(qsrv, b"queue li", read=False)
    raw(qsrv, b"queue list\n", read=False)
    assert raw(qsrv, b"queue list\n") == b"+0 messages, 0 held\nok\n"


@pytest.mark.petrel_conf("relay-from 127.0.0.1")
def test_large_listing_slow_reader(petrel):
    """A listing larger than the socket buffers goes out without blocking
    the queue process: while one client does not read, others are
    served."""
    nmsg, nrcpt = 150, 60
    with petrel.connect() as c:
        c.ehlo()
        for i in range(nmsg):
            cmds = ["MAIL FROM:<bulk%d@example.org>" % i] + \
                ["RCPT TO:<user%02d-%d@remote.example>" % (k, i)
                 for k in range(nrcpt)] + ["DATA"]
            c.send("".join(x + "\r\n" for x in cmds))
            reps = c.read_replies(len(cmds) - 1)
            assert all(r.code == 250 for r in reps), reps[-1]
            assert c.read_reply().code == 354
            c.send(dot_stuff(make_message(subject="bulk %d" % i)) + b".\r\n")
            assert c.read_reply().code == 250
        c.quit()

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(os.path.join(petrel.state, "control.sock"))
    s.sendall(b"queue list\n")
    time.sleep(1.0)   # not reading: the queue process must not wait
    msgs = listing(petrel)
    assert len(msgs) == nmsg
    assert all(len(m["rcpts"]) == nrcpt for m in msgs.values())
    data = b""
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        data += d
    s.close()
    assert len(data) > 300000
    assert data.endswith(b"\n+%d messages, 0 held\nok\n" % nmsg)
    lines = data.split(b"\n")[:-1]
    assert all(ln.startswith(b"+") for ln in lines[:-1])
