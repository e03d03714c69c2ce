"""
Integration harness for petrel: starts a real `petrel serve` on free ports
with a fresh state directory, and offers a raw SMTP client, Maildir readers
and process control (stop, kill -9, restart, kill one child).

Run:  PETREL_BIN=/work/main/build/release/petrel \
          /usr/bin/python3 -m pytest -q tests/integration

Only the standard library and pytest are used. Nothing here asserts on
timings: every wait polls with a generous deadline (ASan builds are slow).
"""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

PETREL_BIN = os.path.abspath(os.environ.get(
    "PETREL_BIN", os.path.join(REPO, "build", "release", "petrel")))

# Log lines that mean something went wrong in the server.
BAD_LOG_PATTERNS = ("AddressSanitizer", "runtime error:", "LeakSanitizer",
                    "killed by signal", "exited with status")

HOSTNAME = "mx.test"
DEFAULT_USERS = ["demo@localhost", "alice@example.test", "bob@example.test"]
DEFAULT_ALIASES = [
    "team@example.test: alice@example.test, bob@example.test",
    "loop1@example.test: loop2@example.test",
    "loop2@example.test: loop1@example.test",
]

WAIT = 30.0          # generic deadline for a condition, seconds
DELIVERY_WAIT = 20.0  # deadline for a message to show up in a Maildir
IO_TIMEOUT = 60.0    # socket timeout for one read


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "petrel_conf(*lines): extra configuration lines for the "
        "`petrel` fixture")
    config.addinivalue_line(
        "markers", "petrel_expect_log(*patterns): log patterns that the "
        "teardown check tolerates for the `petrel` fixture (e.g. 'killed by "
        "signal')")


def pytest_report_header(config):
    return "petrel binary: %s" % PETREL_BIN


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (bind to port 0)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def port_is_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def client_tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def wait_until(cond, timeout=WAIT, interval=0.05, what="condition"):
    """Polls cond() until it returns a true value; returns it or fails."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail("timed out after %.0f s waiting for %s" %
                        (timeout, what))
        time.sleep(interval)


ESC_RE = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?: |$)")


class Reply:
    """One SMTP reply: code and the text of each line (after 'NNN-')."""

    def __init__(self, code, lines, raw):
        self.code = code
        self.lines = lines
        self.raw = raw

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def esc(self):
        """The enhanced status code of the first line, or None."""
        m = ESC_RE.match(self.lines[0]) if self.lines else None
        return "%s.%s.%s" % m.groups() if m else None

    def __repr__(self):
        return "Reply(%r)" % self.raw

    def check_esc(self):
        """RFC 2034: every line carries an enhanced status code whose
        class matches the reply code."""
        for ln in self.lines:
            m = ESC_RE.match(ln)
            assert m, "reply without enhanced status code: %r" % self.raw
            assert m.group(1) == str(self.code)[0], \
                "enhanced status class does not match: %r" % self.raw


class SMTPClosed(Exception):
    pass


class SMTPConn:
    """A raw SMTP client: exact bytes out, parsed replies in.

    Every reply read with read_reply() is checked for an enhanced status
    code unless it is the greeting, a 354, or a reply to HELO/EHLO (RFC
    2034 exempts those), or esc=False is given.
    """

    def __init__(self, port, host="127.0.0.1", tls=False, greeting=True,
                 timeout=IO_TIMEOUT, ctx=None, source=None):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.buf = b""
        self.log = []
        if tls:
            self.sock = (ctx or client_tls_context()).wrap_socket(self.sock)
        self.greeting = None
        if greeting:
            self.greeting = self.read_reply(esc=False)
            assert self.greeting.code == 220, self.greeting

    # -- bytes --
    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.log.append((">", data))
        self.sock.sendall(data)

    def _fill(self):
        try:
            d = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            d = b""
        if not d:
            raise SMTPClosed("connection closed by server; unread %r; "
                             "transcript %r" % (self.buf, self.log[-6:]))
        self.buf += d

    def read_line(self):
        while b"\r\n" not in self.buf:
            assert b"\n" not in self.buf, \
                "server sent a bare LF: %r" % self.buf
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_reply(self, esc=True):
        lines, raw = [], []
        code = None
        while True:
            ln = self.read_line()
            raw.append(ln)
            s = ln.decode("utf-8", "replace")
            m = re.match(r"^(\d{3})([ -])(.*)$", s) or \
                re.match(r"^(\d{3})()$", s)
            assert m, "malformed reply line %r" % ln
            c = int(m.group(1))
            assert code is None or c == code, \
                "code changed inside a multi-line reply: %r" % raw
            code = c
            lines.append(m.group(3))
            if m.group(2) != "-":
                break
        r = Reply(code, lines, b"\r\n".join(raw).decode("utf-8", "replace"))
        self.log.append(("<", r.raw))
        if esc and code not in (220, 354):
            r.check_esc()
        return r

    def read_replies(self, n, esc=True):
        return [self.read_reply(esc=esc) for _ in range(n)]

    # -- commands --
    def cmd(self, line, esc=None):
        if isinstance(line, str):
            line = line.encode("utf-8")
        if esc is None:
            esc = not line[:4].upper() in (b"EHLO", b"HELO")
        self.send(line + b"\r\n")
        return self.read_reply(esc=esc)

    def ehlo(self, name="client.test"):
        r = self.cmd("EHLO " + name)
        assert r.code == 250, r
        return r

    def extensions(self, ehlo_reply):
        return [ln.upper() for ln in ehlo_reply.lines[1:]]

    def starttls(self, ctx=None):
        r = self.cmd("STARTTLS")
        assert r.code == 220, r
        assert self.buf == b"", "bytes after the STARTTLS 220: %r" % self.buf
        self.sock = (ctx or client_tls_context()).wrap_socket(self.sock)
        return r

    def mail_transaction(self, sender, rcpts, body):
        """MAIL/RCPT/DATA one message (body: bytes, CRLF, dot-stuffed by
        the caller). Returns the final reply."""
        r = self.cmd("MAIL FROM:<%s>" % sender)
        assert r.code == 250, r
        for rc in rcpts:
            r = self.cmd("RCPT TO:<%s>" % rc)
            assert r.code == 250, r
        r = self.cmd("DATA")
        assert r.code == 354, r
        self.send(body + b".\r\n")
        return self.read_reply()

    def expect_closed(self, timeout=IO_TIMEOUT):
        """Asserts the server closes without sending anything more."""
        self.sock.settimeout(timeout)
        try:
            self._fill()
        except SMTPClosed:
            return
        pytest.fail("expected the connection to close, got %r" % self.buf)

    def quit(self):
        try:
            r = self.cmd("QUIT")
            assert r.code == 221, r
            self.expect_closed()
        finally:
            self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


QID_RE = re.compile(r"queued as ([0-9A-Za-z]+)")


def queued_id(reply):
    assert reply.code == 250, reply
    m = QID_RE.search(reply.text)
    assert m, "no queue id in %r" % reply
    return m.group(1)


def make_message(subject="test", body="hello\r\n", sender="sender@example.org",
                 to="demo@localhost", extra_headers=""):
    """A small RFC 5322 message, CRLF line ends, not dot-stuffed."""
    msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
           "Message-ID: <%s@client.test>\r\n%s\r\n%s" %
           (sender, to, subject, re.sub(r"[^A-Za-z0-9.-]", "-", subject),
            extra_headers, body))
    return msg.encode("utf-8")


def parse_headers(raw):
    """Header block of a delivered message (LF line ends) as a list of
    (name, value) with unfolded values."""
    text = raw.decode("utf-8", "replace")
    head = text.split("\n\n", 1)[0]
    out = []
    for ln in head.split("\n"):
        if ln[:1] in (" ", "\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + ln.strip())
        elif ":" in ln:
            k, v = ln.split(":", 1)
            out.append((k, v.strip()))
    return out


def body_of(raw):
    return raw.split(b"\n\n", 1)[1] if b"\n\n" in raw else b""


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------

class Petrel:
    """One petrel instance: its state dir, config, ports and processes."""

    def __init__(self, extra=(), users=None, aliases=None, binary=None):
        self.bin = binary or PETREL_BIN
        self.state = tempfile.mkdtemp(prefix="petrel-it-")
        os.chmod(self.state, 0o755)
        self.conf_path = os.path.join(self.state, "petrel.conf")
        self.users_path = os.path.join(self.state, "users")
        self.aliases_path = os.path.join(self.state, "aliases")
        self.log_path = os.path.join(self.state, "petrel.log")
        p = free_ports(3)
        self.ports = {"mx": p[0], "submission": p[1], "submissions": p[2]}
        self.extra = list(extra)
        self.users = list(DEFAULT_USERS if users is None else users)
        self.aliases = list(DEFAULT_ALIASES if aliases is None else aliases)
        self.proc = None
        self.expected_log = set()
        self.write_users()
        self.write_aliases()
        self.write_config()

    # -- files --
    @property
    def mx(self):
        return self.ports["mx"]

    @property
    def submission(self):
        return self.ports["submission"]

    @property
    def submissions(self):
        return self.ports["submissions"]

    def config_text(self, extra=None):
        lines = [
            "# written by tests/integration/conftest.py",
            "hostname %s" % HOSTNAME,
            "state-dir %s" % self.state,
            "listen 127.0.0.1:%d mx" % self.mx,
            "listen 127.0.0.1:%d submission" % self.submission,
            "listen 127.0.0.1:%d submissions" % self.submissions,
            "domain localhost",
            "domain example.test",
            "users %s" % self.users_path,
            "aliases %s" % self.aliases_path,
        ]
        extra = list(self.extra if extra is None else extra)
        # Hermetic outbound: no test reaches a real DNS server. Nothing
        # listens on 127.0.53.254, so lookups fail at once and remote
        # mail is deferred; netlab.py's tests bring their own DNS lines.
        if not any(ln.startswith("dns-resolver ") for ln in extra):
            lines.append("dns-resolver 127.0.53.254")
        if not any(ln.startswith("dns-trust-anchor ") for ln in extra):
            lines.append("dns-trust-anchor none")
        lines += extra
        return "\n".join(lines) + "\n"

    def write_config(self, text=None):
        with open(self.conf_path, "w") as f:
            f.write(self.config_text() if text is None else text)

    def write_users(self):
        with open(self.users_path, "w") as f:
            f.write("".join(u + "\n" for u in self.users))
        os.chmod(self.users_path, 0o644)

    def write_aliases(self):
        with open(self.aliases_path, "w") as f:
            f.write("".join(a + "\n" for a in self.aliases))
        os.chmod(self.aliases_path, 0o644)

    def spool_dir(self):
        for ln in self.extra:
            if ln.startswith("spool-dir "):
                return ln.split(None, 1)[1]
        return os.path.join(self.state, "spool")

    def mail_dir(self):
        return os.path.join(self.state, "mail")

    # -- processes --
    def command(self):
        return [self.bin, "serve", "--config", self.conf_path]

    def start(self, wait=True):
        assert self.proc is None or self.proc.poll() is not None
        logf = open(self.log_path, "ab")
        logf.write(b"=== test harness: starting %s\n" %
                   " ".join(self.command()).encode())
        logf.flush()
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            cwd=self.state, start_new_session=True)
        logf.close()
        if wait:
            self.wait_ready()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=60.0):
        """Waits until every listener answers with a 220 greeting."""
        deadline = time.monotonic() + timeout
        pending = ["mx", "submission", "submissions"]
        while pending:
            if not self.running():
                pytest.fail("petrel exited during start-up (status %s):\n%s"
                            % (self.proc.returncode, self.log_tail()))
            role = pending[0]
            try:
                c = SMTPConn(self.ports[role], tls=(role == "submissions"),
                             timeout=10)
                c.send(b"QUIT\r\n")
                c.close()
                pending.pop(0)
                continue
            except (OSError, SMTPClosed, AssertionError, ssl.SSLError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("petrel did not become ready on %s:\n%s" %
                            (role, self.log_tail()))
            time.sleep(0.05)
        self.wait_children(deadline - time.monotonic())

    def child_catches(self, name, sig=signal.SIGTERM):
        """True if the child NAME has installed a handler for sig."""
        pid = self.child_pid(name)
        if pid is None:
            return False
        try:
            with open("/proc/%d/status" % pid) as f:
                for ln in f:
                    if ln.startswith("SigCgt:"):
                        return bool(int(ln.split()[1], 16) &
                                    (1 << (int(sig) - 1)))
        except OSError:
            pass
        return False

    def wait_children(self, timeout=60.0):
        """Waits until the queue, local, remote and smtp children run and catch
        SIGTERM, so a stop right after start-up is an orderly one."""
        for name in ("queue", "local", "remote", "smtp"):
            wait_until(lambda: self.child_catches(name), max(timeout, 5),
                       what="the %s child to be up" % name)

    def stop(self, timeout=30.0):
        """SIGTERM and wait; returns the exit status (None if not running)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
                pytest.fail("petrel did not exit within %.0f s of SIGTERM"
                            % timeout)
        # Children are in the parent's session/process group; none may
        # outlive it.
        self._reap_group()
        return self.proc.returncode

    def group_pids(self):
        """All live processes in the server's process group."""
        if self.proc is None:
            return []
        pgid = self.proc.pid
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            fields = st[st.rfind(")") + 2:].split()
            # fields[0] = state, [1] = ppid, [2] = pgrp
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(d))
        return out

    def _reap_group(self):
        deadline = time.monotonic() + 30
        while self.group_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        left = self.group_pids()
        if left:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            pytest.fail("petrel children outlived the parent: %r" % left)

    def kill9(self):
        """SIGKILL the parent and every child at once."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)
        deadline = time.monotonic() + 30
        while self.group_pids() and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self):
        self.stop()
        return self.start()

    def child_pid(self, name):
        """PID of the child `petrel __child NAME ...`, or None."""
        want = b"__child\0" + name.encode() + b"\0"
        for pid in self.group_pids():
            if pid == self.proc.pid:
                continue
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if want in cmd:
                return pid
        return None

    def kill_child(self, name, sig=signal.SIGKILL):
        pid = wait_until(lambda: self.child_pid(name), what="%s child" % name)
        os.kill(pid, sig)
        return pid

    def sighup(self):
        os.kill(self.proc.pid, signal.SIGHUP)

    # -- log --
    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=150):
        return "\n".join(self.log().splitlines()[-n:])

    def wait_log(self, pattern, timeout=WAIT, start=0):
        """Waits until regex pattern appears in the log after offset start."""
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log()[start:]), timeout,
                          what="log line matching %r" % pattern)

    def lsan_chroot_noise(self, lines):
        """Lines explained by LeakSanitizer being unable to run in the
        chrooted smtp, auth and remote children (it needs /proc/PID/task, and the
        chroot has no /proc): the child then exits with status 1 at
        shutdown. Those
        lines are tolerated unless PETREL_TEST_STRICT_LSAN=1; see
        tests/integration/README.md."""
        if os.environ.get("PETREL_TEST_STRICT_LSAN") == "1":
            return set()
        text = "\n".join(lines)
        chrooted = dict((pid, name) for name, pid in re.findall(
            r"started (smtp|auth|remote) pid=(\d+)", text))
        noise = set()
        for pid, name in chrooted.items():
            if not re.search(r"==\d+==Can't open /proc/%s/task for reading"
                             % pid, text):
                continue
            for i, ln in enumerate(lines):
                if ("==%s==" % pid) in ln or \
                        ("Can't open /proc/%s/task" % pid) in ln or \
                        ("%s pid=%s exited with status 1" % (name, pid)) \
                        in ln:
                    noise.add(i)
        return noise

    def bad_log_lines(self):
        bad = []
        lines = self.log().splitlines()
        noise = self.lsan_chroot_noise(lines)
        for i, ln in enumerate(lines):
            if i in noise:
                continue
            for p in BAD_LOG_PATTERNS:
                if p in ln and p not in self.expected_log:
                    bad.append(ln)
                    break
        return bad

    def expect_log(self, *patterns):
        """Declares that the teardown check tolerates these patterns."""
        self.expected_log.update(patterns)

    # -- mail --
    def maildir_new(self, domain, user):
        return os.path.join(self.mail_dir(), domain, user, "new")

    def messages(self, domain="localhost", user="demo"):
        """Delivered messages (bytes), oldest file name first."""
        d = self.maildir_new(domain, user)
        try:
            names = sorted(n for n in os.listdir(d) if not n.startswith("."))
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                out.append(f.read())
        return out

    def count(self, domain="localhost", user="demo"):
        return len(self.messages(domain, user))

    def all_mailboxes(self):
        """{(domain, user): count} for every Maildir under mail/."""
        res = {}
        md = self.mail_dir()
        if not os.path.isdir(md):
            return res
        for dom in os.listdir(md):
            dp = os.path.join(md, dom)
            if not os.path.isdir(dp):
                continue
            for user in os.listdir(dp):
                res[(dom, user)] = self.count(dom, user)
        return res

    def queue_files(self):
        """Files in the spool's incoming/ and queue/ directories."""
        out = []
        for sub in ("incoming", "queue"):
            d = os.path.join(self.spool_dir(), sub)
            try:
                out += [os.path.join(sub, n) for n in os.listdir(d)]
            except FileNotFoundError:
                pass
        return out

    def wait_queue_empty(self, timeout=60.0):
        wait_until(lambda: not self.queue_files(), timeout,
                   what="an empty spool (left: %r)" % (self.queue_files(),))

    def wait_messages(self, n, domain="localhost", user="demo",
                      timeout=DELIVERY_WAIT):
        """Waits until at least n messages are in the mailbox, then until
        the queue is empty (so no further copy is on its way), and returns
        all messages in it."""
        wait_until(lambda: self.count(domain, user) >= n, timeout,
                   what="%d message(s) in %s@%s (have %d)" %
                   (n, user, domain, self.count(domain, user)))
        self.wait_queue_empty()
        return self.messages(domain, user)

    # -- clients --
    def connect(self, role="mx", **kw):
        if role == "submissions":
            kw.setdefault("tls", True)
        return SMTPConn(self.ports[role], **kw)

    def send(self, rcpts=("demo@localhost",), msg=None, sender="sender@example.org",
             role="mx"):
        """One message in its own session; returns the queue id."""
        if msg is None:
            msg = make_message()
        with self.connect(role) as c:
            c.ehlo()
            r = c.mail_transaction(sender, list(rcpts), dot_stuff(msg))
            qid = queued_id(r)
            c.quit()
        return qid

    def cleanup(self):
        shutil.rmtree(self.state, ignore_errors=True)


def dot_stuff(msg):
    """Dot-stuffs msg (CRLF lines) for DATA; ensures a final CRLF."""
    if not msg.endswith(b"\r\n"):
        msg += b"\r\n"
    lines = msg.split(b"\r\n")
    return b"\r\n".join((b"." + ln) if ln.startswith(b".") else ln
                        for ln in lines)


def send_sentinel(server, subject="sentinel", rcpt="demo@localhost"):
    """Sends a marker message; after it arrives (and the queue is empty),
    anything that was going to be delivered has been."""
    server.send([rcpt], make_message(subject=subject, to=rcpt))


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed and rep.when == "call":
        for srv in getattr(item, "_petrel_servers", []):
            rep.sections.append(("petrel log (%s)" % srv.state,
                                 srv.log_tail(300)))


@pytest.fixture
def petrel_factory(request):
    """petrel_factory(extra=[...], users=[...], aliases=[...], start=True)
    returns a started Petrel; every instance is stopped and its log checked
    at teardown."""
    servers = []
    request.node._petrel_servers = servers

    def make(extra=(), users=None, aliases=None, start=True, binary=None,
             cls=None):
        srv = (cls or Petrel)(extra=extra, users=users, aliases=aliases,
                              binary=binary)
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield make

    problems = []
    for srv in servers:
        try:
            if srv.running():
                status = srv.stop()
                if status != 0:
                    problems.append("%s: exit status %s after SIGTERM" %
                                    (srv.state, status))
        except BaseException as e:  # noqa: B902 - report, then clean up
            problems.append("%s: stopping failed: %s" % (srv.state, e))
        bad = srv.bad_log_lines()
        if bad:
            problems.append("%s: bad log lines:\n  %s" %
                            (srv.state, "\n  ".join(bad[:20])))
        if problems:
            problems.append("---- log ----\n" + srv.log_tail(300))
    failed = problems or (hasattr(request.node, "rep_call") and
                          request.node.rep_call.failed)
    if not failed:
        for srv in servers:
            srv.cleanup()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def petrel(request, petrel_factory):
    """A started petrel with the default test configuration, plus the lines
    of @pytest.mark.petrel_conf(...)."""
    m = request.node.get_closest_marker("petrel_conf")
    extra = list(m.args) if m else []
    srv = petrel_factory(extra=extra)
    e = request.node.get_closest_marker("petrel_expect_log")
    if e:
        srv.expect_log(*e.args)
    return srv


@pytest.fixture(scope="module")
def _shared_petrel_module():
    srv = Petrel()
    srv.start()
    yield srv
    problems = []
    if srv.running():
        status = srv.stop()
        if status != 0:
            problems.append("exit status %s after SIGTERM" % status)
    bad = srv.bad_log_lines()
    if bad:
        problems.append("bad log lines:\n  " + "\n  ".join(bad[:20]))
    if problems:
        pytest.fail("shared server %s: %s\n---- log ----\n%s" %
                    (srv.state, "\n".join(problems), srv.log_tail(300)),
                    pytrace=False)
    srv.cleanup()


@pytest.fixture
def shared_petrel(request, _shared_petrel_module):
    """A petrel with the default test configuration shared by the tests of
    one module. Only for tests that change nothing: no deliveries they
    count, no reloads, no kills. Its log is checked when the module ends."""
    srv = _shared_petrel_module
    if not srv.running():
        pytest.fail("the shared server is not running:\n" + srv.log_tail())
    request.node._petrel_servers = [srv]
    return srv
