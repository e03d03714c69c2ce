"""`petrel user add|passwd|del|list`: the accounts file editor, driven
through the real binary. Passwords come from standard input or a pseudo
terminal, never from argv; the file is rewritten atomically with every
other line kept; addresses outside the configured domains are refused;
without --config the command works on ./petrel-data/users. The hashes it
writes are checked with libcrypt (yescrypt) and hashlib (SCRAM-SHA-256)."""
import base64
import ctypes
import ctypes.util
import hashlib
import hmac
import os
import pty
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import PETREL_BIN, port_is_free, wait_until

_libcrypt = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
_libcrypt.crypt.restype = ctypes.c_char_p
_libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]

HEADER = ("# accounts of the test\r\n"
          "\n"
          "alice@example.test:$y$j75$jTyDW/epwdnMidXV7jEvl1$QELNdIcVnqxKDnD3bAu"
          "X2pExleTA5LjfIZ11Y0TKYoA:1000:1000:Alice:/home/a:/bin/sh:"
          "userdb_quota_rule=*:storage=1G  x=y\n"
          "   # indented comment\n"
          "postmaster@localhost\n")


def crypt_ok(password, hashed):
    return _libcrypt.crypt(password.encode(), hashed.encode()) == \
        hashed.encode()


def scram_ok(password, value):
    it, salt, stored, server = value.split(",")
    assert int(it) == 4096
    assert len(base64.b64decode(salt)) == 16
    sp = hashlib.pbkdf2_hmac("sha256", password.encode(),
                             base64.b64decode(salt), int(it))
    ck = hmac.new(sp, b"Client Key", "sha256").digest()
    sk = hmac.new(sp, b"Server Key", "sha256").digest()
    return hashlib.sha256(ck).digest() == base64.b64decode(stored) and \
        sk == base64.b64decode(server)


def account_line(text, address):
    for ln in text.splitlines():
        if ln.split(":", 1)[0].strip().lower() == address:
            return ln
    return None


def check_password(text, address, password):
    """The account's line has a yescrypt hash and SCRAM keys of password."""
    ln = account_line(text, address)
    assert ln is not None, text
    f = ln.split(":", 7)
    assert f[1].startswith("$y$"), ln
    assert crypt_ok(password, f[1]), ln
    assert not crypt_ok(password + "x", f[1])
    extra = f[7].split() if len(f) == 8 else []
    scram = [e.split("=", 1)[1] for e in extra
             if e.startswith("scram-sha-256=")]
    assert len(scram) == 1, ln
    assert scram_ok(password, scram[0]), ln
    return f


class Setup:
    """A configuration in a scratch directory and helpers to run the tool."""

    def __init__(self, users=HEADER, aliases=None):
        self.dir = tempfile.mkdtemp(prefix="petrel-user-")
        self.conf = os.path.join(self.dir, "petrel.conf")
        self.users = os.path.join(self.dir, "users")
        lines = ["hostname mx.test", "state-dir %s" % self.dir,
                 "domain localhost", "domain example.test",
                 "users users"]
        if aliases is not None:
            lines.append("aliases aliases")
            with open(os.path.join(self.dir, "aliases"), "w") as f:
                f.write(aliases)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        if users is not None:
            with open(self.users, "w", newline="") as f:
                f.write(users)
            os.chmod(self.users, 0o640)

    def run(self, *args, password=None, config=True, cwd=None):
        cmd = [PETREL_BIN, "user"] + list(args)
        if config:
            cmd += ["--config", self.conf]
        return subprocess.run(
            cmd, input=(password.encode() if password is not None else b""),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
            cwd=cwd or self.dir)

    def text(self):
        with open(self.users, newline="") as f:
            return f.read()

    def leftovers(self):
        return [n for n in os.listdir(self.dir) if n.startswith(".users.")]

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def setup():
    s = Setup()
    yield s
    s.cleanup()


def test_add_passwd_del_list(setup):
    before = setup.text()
    ino = os.stat(setup.users).st_ino
    r = setup.run("add", "Carol@Example.TEST", "--address",
                  "sales@example.test", "--address=carol@elsewhere.example",
                  password="c4rol pass\n")
    assert r.returncode == 0, r.stderr
    assert b"added carol@example.test" in r.stdout
    text = setup.text()
    # Everything that was there stays byte for byte; the account is added.
    assert text.startswith(before)
    new = text[len(before):]
    assert new.count("\n") == 1 and new.startswith("carol@example.test:$y$")
    f = check_password(text, "carol@example.test", "c4rol pass")
    assert "addresses=sales@example.test,carol@elsewhere.example" in f[7]
    # Atomic replacement: a new inode with the old mode; no temp file left.
    st = os.stat(setup.users)
    assert st.st_ino != ino
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert setup.leftovers() == []

    r = setup.run("list")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    assert out == [
        "alice@example.test login=yes scheme=yescrypt scram=no addresses=-",
        "postmaster@localhost login=no scheme=none scram=no addresses=-",
        "carol@example.test login=yes scheme=yescrypt scram=yes "
        "addresses=sales@example.test,carol@elsewhere.example",
    ]
    assert "$y$" not in r.stdout.decode()

    # passwd: new hash and keys; the other fields of alice's line stay.
    r = setup.run("passwd", "alice@example.test", password="n3w\n")
    assert r.returncode == 0, r.stderr
    text = setup.text()
    f = check_password(text, "alice@example.test", "n3w")
    assert f[2:7] == ["1000", "1000", "Alice", "/home/a", "/bin/sh"]
    assert f[7].startswith("userdb_quota_rule=*:storage=1G  x=y "
                           "scram-sha-256=")
    assert text.startswith("# accounts of the test\r\n\n")
    assert "   # indented comment\npostmaster@localhost\n" in text
    check_password(text, "carol@example.test", "c4rol pass")
    # A second passwd replaces the keys rather than adding more.
    r = setup.run("passwd", "alice@example.test", password="again\r\n")
    assert r.returncode == 0, r.stderr
    check_password(setup.text(), "alice@example.test", "again")

    # del removes exactly that line.
    text = setup.text()
    r = setup.run("del", "carol@example.test")
    assert r.returncode == 0, r.stderr
    carol = account_line(text, "carol@example.test") + "\n"
    assert setup.text() == text.replace(carol, "")
    assert setup.leftovers() == []
    assert stat.S_IMODE(os.stat(setup.users).st_mode) == 0o640


def test_refusals(setup):
    before = setup.text()
    cases = [
        # (args, password, status, message)
        (("add", "bob@example.org"), "pw\n", 1,
         b"'example.org' is not a configured domain"),
        (("add", "bad/name@example.test"), "pw\n", 1,
         b"is not a valid account address"),
        (("add", "bob@example.test", "--address", "nope"), "pw\n", 1,
         b"--address 'nope' is not a valid address"),
        (("add", "alice@EXAMPLE.test"), "pw\n", 1,
         b"account alice@example.test already exists (line 3)"),
        (("passwd", "nobody@example.test"), "pw\n", 1,
         b"no account nobody@example.test"),
        (("del", "nobody@example.test"), None, 1,
         b"no account nobody@example.test"),
        (("add", "bob@example.test"), "\n", 1, b"empty password"),
        (("add", "bob@example.test"), "", 1,
         b"no password given on standard input"),
        (("add", "bob@example.test"), "x" * 1025 + "\n", 1,
         b"password longer than 1024 bytes"),
        # Never from the command line.
        (("add", "bob@example.test", "s3cret"), "pw\n", 2,
         b"passwords are not taken from the command line"),
        (("passwd", "alice@example.test", "s3cret"), "pw\n", 2,
         b"passwords are not taken from the command line"),
        (("add", "bob@example.test", "--password", "s3cret"), "pw\n", 2,
         b"passwords are not taken from the command line"),
        (("add", "bob@example.test", "-p", "s3cret"), "pw\n", 2,
         b"passwords are not taken from the command line"),
        # Usage.
        ((), None, 2, b"usage:"),
        (("frob",), None, 2, b"usage:"),
        (("add",), None, 2, b"usage:"),
        (("del", "a@example.test", "b@example.test"), None, 2, b"usage:"),
        (("list", "a@example.test"), None, 2, b"usage:"),
        (("passwd", "alice@example.test", "--address", "x@y.example"),
         "pw\n", 2, b"usage:"),
        (("add", "bob@example.test", "--bogus"), "pw\n", 2, b"usage:"),
    ]
    for args, pw, status, msg in cases:
        r = setup.run(*args, password=pw)
        assert r.returncode == status, (args, r.stderr)
        assert msg in r.stderr, (args, r.stderr)
        assert r.stdout == b"", (args, r.stdout)
        assert setup.text() == before, args
    assert setup.leftovers() == []
    # The whole `petrel` usage text names the command.
    r = subprocess.run([PETREL_BIN], stderr=subprocess.PIPE)
    assert r.returncode == 2 and b"petrel user add" in r.stderr


def test_broken_file_is_not_touched():
    s = Setup(users="a@example.test:{PLAIN}secret\n")
    try:
        r = s.run("add", "b@example.test", password="pw\n")
        assert r.returncode == 1
        assert b"fix it first" in r.stderr
        assert b"users:1: password: unsupported scheme {PLAIN}" in r.stderr
        assert s.text() == "a@example.test:{PLAIN}secret\n"
        r = s.run("list")
        assert r.returncode == 1 and b"unsupported scheme" in r.stderr
    finally:
        s.cleanup()


def test_del_that_breaks_an_alias_is_refused():
    s = Setup(users="a@example.test\nb@example.test\n",
              aliases="team@example.test: a@example.test, b@example.test\n")
    try:
        r = s.run("del", "b@example.test")
        assert r.returncode == 1
        assert b"not written" in r.stderr
        assert b"alias target 'b@example.test' does not exist" in r.stderr
        assert s.text() == "a@example.test\nb@example.test\n"
        r = s.run("add", "c@example.test", "--no-password")
        assert r.returncode == 0, r.stderr
        assert s.text() == "a@example.test\nb@example.test\nc@example.test\n"
    finally:
        s.cleanup()


def test_new_file_and_missing_final_newline():
    s = Setup(users=None)
    try:
        r = s.run("list")
        assert r.returncode == 0 and r.stdout == b""
        r = s.run("add", "a@localhost", password="pw\n")
        assert r.returncode == 0, r.stderr
        assert stat.S_IMODE(os.stat(s.users).st_mode) == 0o600
        check_password(s.text(), "a@localhost", "pw")
        with open(s.users, "a") as f:
            f.write("b@localhost")          # no final LF
        r = s.run("add", "c@localhost", "--no-password")
        assert r.returncode == 0, r.stderr
        assert s.text().endswith("\nb@localhost\nc@localhost\n")
    finally:
        s.cleanup()


def test_symlinked_users_file_is_edited_in_place():
    s = Setup(users=None)
    try:
        real = os.path.join(s.dir, "real-users")
        with open(real, "w") as f:
            f.write("a@localhost\n")
        os.symlink("real-users", s.users)
        r = s.run("add", "b@localhost", "--no-password")
        assert r.returncode == 0, r.stderr
        assert os.path.islink(s.users)
        with open(real) as f:
            assert f.read() == "a@localhost\nb@localhost\n"
    finally:
        s.cleanup()


def test_no_config_uses_petrel_data_in_cwd():
    d = tempfile.mkdtemp(prefix="petrel-user-cwd-")
    try:
        run = lambda *a, pw=None: subprocess.run(  # noqa: E731
            [PETREL_BIN, "user"] + list(a), cwd=d, timeout=120,
            input=pw.encode() if pw else b"", stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        # No petrel-data yet: nothing is created.
        r = run("add", "me@localhost", pw="pw\n")
        assert r.returncode == 1
        assert b"petrel-data" in r.stderr
        assert os.listdir(d) == []
        r = run("list")
        assert r.returncode == 0 and r.stdout == b""
        os.mkdir(os.path.join(d, "petrel-data"))
        r = run("add", "me@localhost", pw="pw\n")
        assert r.returncode == 0, r.stderr
        users = os.path.join(d, "petrel-data", "users")
        with open(users) as f:
            check_password(f.read(), "me@localhost", "pw")
        # The embedded default's domain is localhost only.
        r = run("add", "me@example.test", pw="pw\n")
        assert r.returncode == 1
        assert b"not a configured domain" in r.stderr
        # Only the users file: no certificate, spool or mail directory.
        assert os.listdir(os.path.join(d, "petrel-data")) == ["users"]
        r = run("list")
        assert r.stdout == \
            b"me@localhost login=yes scheme=yescrypt scram=yes addresses=-\n"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _pty_run(setup, args, answers):
    """Runs the tool with a pseudo terminal as stdin and stderr, answering
    each prompt in turn. Returns (status, terminal output, stdout)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([PETREL_BIN, "user"] + args +
                         ["--config", setup.conf], stdin=slave, stderr=slave,
                         stdout=subprocess.PIPE, start_new_session=True)
    os.close(slave)
    seen = b""
    pending = list(answers)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                d = os.read(master, 4096)
            except OSError:
                break
            if not d:
                break
            seen += d
            if pending and seen.rstrip().endswith(b":"):
                os.write(master, pending.pop(0).encode() + b"\n")
        elif p.poll() is not None:
            break
    out = p.stdout.read()
    p.wait(30)
    os.close(master)
    return p.returncode, seen, out


def test_password_from_terminal(setup):
    status, seen, out = _pty_run(setup, ["add", "t@localhost"],
                                 ["Terminal Secret", "Terminal Secret"])
    assert status == 0, seen
    assert b"New password for t@localhost:" in seen
    assert b"Retype the password:" in seen
    assert b"Terminal Secret" not in seen      # echo was off
    check_password(setup.text(), "t@localhost", "Terminal Secret")
    before = setup.text()
    status, seen, out = _pty_run(setup, ["passwd", "t@localhost"],
                                 ["one", "two"])
    assert status == 1
    assert b"the passwords do not match" in seen
    assert setup.text() == before


def test_server_sees_the_account_after_reload(petrel):
    r = subprocess.run([PETREL_BIN, "user", "add", "carol@example.test",
                        "--config", petrel.conf_path], input=b"pw\n",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    # The harness writes the users file world-readable; that stays.
    assert stat.S_IMODE(os.stat(petrel.users_path).st_mode) == 0o644

    def rcpt():
        c = petrel.connect()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@example.org>").code == 250
        code = c.cmd("RCPT TO:<carol@example.test>").code
        c.quit()
        return code
    petrel.sighup()
    wait_until(lambda: rcpt() == 250, interval=0.2,
               what="carol to be known after the reload")


def test_first_start_creates_hashed_demo_account():
    """The embedded default's first start writes demo@localhost with a
    fresh yescrypt hash and SCRAM keys of "demo", and postmaster without
    a password, mode 0600."""
    for port in (2525, 2587, 2465):
        if not port_is_free(port):
            pytest.skip("port %d is busy" % port)
    d = tempfile.mkdtemp(prefix="petrel-user-first-")
    users = os.path.join(d, "petrel-data", "users")
    p = subprocess.Popen([PETREL_BIN, "serve"], cwd=d,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: os.path.exists(users), what="the users file")
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(60)
    try:
        with open(users) as f:
            text = f.read()
        assert stat.S_IMODE(os.stat(users).st_mode) == 0o600
        assert account_line(text, "postmaster@localhost") == \
            "postmaster@localhost"
        check_password(text, "demo@localhost", "demo")
        r = subprocess.run([PETREL_BIN, "user", "list"], cwd=d,
                           stdout=subprocess.PIPE, timeout=60)
        assert r.stdout.decode().splitlines() == [
            "postmaster@localhost login=no scheme=none scram=no addresses=-",
            "demo@localhost login=yes scheme=yescrypt scram=yes addresses=-",
        ]
    finally:
        shutil.rmtree(d, ignore_errors=True)
