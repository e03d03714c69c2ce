"""Operations: SIGHUP reload, check-config, version, clean shutdown, the
embedded default configuration."""
import os
import re
import subprocess

import pytest

from conftest import (PETREL_BIN, Petrel, SMTPConn, make_message, port_is_free,
                      wait_until)


def rcpt_code(srv, address):
    c = srv.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    r = c.cmd("RCPT TO:<%s>" % address)
    c.quit()
    return r.code


# ---- SIGHUP ----

def test_sighup_adds_user(petrel):
    assert rcpt_code(petrel, "carol@example.test") == 550
    petrel.users.append("carol@example.test")
    petrel.write_users()
    petrel.sighup()
    wait_until(lambda: rcpt_code(petrel, "carol@example.test") == 250,
               interval=0.2, what="carol to be known after SIGHUP")
    petrel.send(["carol@example.test"],
                make_message(subject="new user", to="carol@example.test"))
    msgs = petrel.wait_messages(1, "example.test", "carol")
    assert len(msgs) == 1
    # Still the same parent process.
    assert petrel.running()


def test_sighup_removes_user(petrel):
    assert rcpt_code(petrel, "bob@example.test") == 250
    petrel.users.remove("bob@example.test")
    petrel.aliases = [a for a in petrel.aliases if "bob@" not in a]
    petrel.write_users()
    petrel.write_aliases()
    petrel.sighup()
    wait_until(lambda: rcpt_code(petrel, "bob@example.test") == 550,
               interval=0.2, what="bob to be gone after SIGHUP")


def test_sighup_changes_size_limit(petrel):
    def size():
        c = petrel.connect()
        ext = c.extensions(c.ehlo())
        c.quit()
        return [e for e in ext if e.startswith("SIZE ")][0]
    assert size() == "SIZE %d" % (50 * 1024 * 1024)
    petrel.extra = ["max-message-size 1M"]
    petrel.write_config()
    petrel.sighup()
    wait_until(lambda: size() == "SIZE 1048576", interval=0.2,
               what="the new SIZE after SIGHUP")


def test_sighup_broken_config_keeps_running(petrel):
    off = len(petrel.log())
    with open(petrel.conf_path, "a") as f:
        f.write("this-is-not-a-keyword yes\n")
    petrel.users.append("carol@example.test")
    petrel.write_users()
    petrel.sighup()
    petrel.wait_log(r"petrel\[parent\]: error .*this-is-not-a-keyword|"
                    r"petrel\[parent\]: error .*reload", start=off)
    assert petrel.running()
    # The old configuration (and the old users) stay in force.
    assert rcpt_code(petrel, "demo@localhost") == 250
    assert rcpt_code(petrel, "carol@example.test") == 550
    petrel.send(msg=make_message(subject="still works"))
    assert len(petrel.wait_messages(1)) == 1
    # Fixing the file and reloading again works.
    petrel.write_config()
    petrel.sighup()
    wait_until(lambda: rcpt_code(petrel, "carol@example.test") == 250,
               interval=0.2, what="the fixed configuration")


def test_sighup_broken_users_file_keeps_running(petrel):
    off = len(petrel.log())
    with open(petrel.users_path, "a") as f:
        f.write("mallory@not-a-local-domain.test\n")
    petrel.sighup()
    petrel.wait_log(r"petrel\[parent\]: error", start=off)
    assert petrel.running()
    assert rcpt_code(petrel, "demo@localhost") == 250


def test_sighup_many_times(petrel):
    for _ in range(10):
        petrel.sighup()
    petrel.send(msg=make_message(subject="after reloads"))
    assert len(petrel.wait_messages(1)) == 1
    assert petrel.running()


# ---- check-config, serve with a bad file, version ----

def run(args, cwd=None):
    return subprocess.run([PETREL_BIN] + args, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=120, cwd=cwd)


def test_check_config_good(petrel_factory):
    srv = petrel_factory(start=False)
    p = run(["check-config", "--config", srv.conf_path])
    assert p.returncode == 0, p.stdout


def test_check_config_bad_keyword_names_line(petrel_factory):
    srv = petrel_factory(start=False)
    srv.write_config("hostname mx.test\nstate-dir %s\nlisen 127.0.0.1:25 mx\n"
                     % srv.state)
    p = run(["check-config", "--config", srv.conf_path])
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode != 0, out
    assert "%s:3:" % srv.conf_path in out, out


def test_check_config_bad_value_names_line(petrel_factory):
    srv = petrel_factory(start=False)
    text = srv.config_text().rstrip("\n").split("\n")
    text.insert(2, "max-recipients 5")
    srv.write_config("\n".join(text) + "\n")
    p = run(["check-config", "--config", srv.conf_path])
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode != 0, out
    assert "%s:3:" % srv.conf_path in out, out


def test_check_config_missing_file(petrel_factory):
    srv = petrel_factory(start=False)
    p = run(["check-config", "--config", srv.conf_path + ".missing"])
    assert p.returncode != 0


def test_check_config_dump(petrel_factory):
    srv = petrel_factory(start=False)
    p = run(["check-config", "--config", srv.conf_path, "-n"])
    out = p.stdout.decode()
    assert p.returncode == 0, out
    assert re.search(r"^max-message-size\s", out, re.M), out
    assert re.search(r"^hostname mx\.test$", out, re.M), out


def test_serve_refuses_bad_config(petrel_factory):
    srv = petrel_factory(start=False)
    srv.write_config(srv.config_text() + "no-such-option 1\n")
    p = subprocess.run([PETREL_BIN, "serve", "--config", srv.conf_path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=120, cwd=srv.state)
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode != 0, out
    assert "no-such-option" in out, out
    # Nothing is listening.
    assert port_is_free(srv.mx)


def test_version():
    p = run(["version"])
    out = p.stdout.decode()
    assert p.returncode == 0, out
    assert re.match(r"^petrel \d+\.\d+(\.\d+)?\S*\n$", out), out


# ---- shutdown ----

def test_sigterm_clean_exit(petrel):
    petrel.send(msg=make_message(subject="before stop"))
    petrel.wait_messages(1)
    assert petrel.stop() == 0
    assert not petrel.group_pids()
    assert "stopped" in petrel.log()


def test_sigterm_right_after_start(petrel_factory):
    """SIGTERM as soon as the parent says it is ready: every child stops
    in order (none 'killed by signal 15' because its handler was not
    installed yet)."""
    problems = []
    for i in range(10):
        srv = petrel_factory(start=False)
        srv.start(wait=False)
        srv.wait_log(r"ready hostname=")
        status = srv.stop()
        bad = srv.bad_log_lines()
        if status != 0 or bad:
            problems.append((i, status, bad))
        # Reported here, not again at teardown.
        srv.expect_log("killed by signal", "exited with status")
    assert not problems, problems


def test_sigterm_with_open_sessions(petrel):
    conns = [petrel.connect() for _ in range(5)]
    for c in conns:
        c.ehlo()
    c = conns[0]
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(b"Subject: unfinished\r\n\r\n")
    assert petrel.stop() == 0
    for c in conns:
        c.close()
    # Restart: nothing half-received shows up.
    petrel.start()
    petrel.send(msg=make_message(subject="after restart"))
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1 and b"after restart" in msgs[0]


# ---- embedded default ----

class EmbeddedPetrel(Petrel):
    """`petrel serve` without --config, run in a fresh directory."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.ports = {"mx": 2525, "submission": 2587, "submissions": 2465}

    def command(self):
        return [self.bin, "serve"]

    def data(self):
        return os.path.join(self.state, "petrel-data")

    def mail_dir(self):
        return os.path.join(self.data(), "mail")

    def spool_dir(self):
        return os.path.join(self.data(), "spool")


def test_embedded_default(petrel_factory):
    for port in (2525, 2587, 2465):
        if not port_is_free(port):
            pytest.skip("port %d is busy" % port)
    srv = petrel_factory(start=False, cls=EmbeddedPetrel)
    # Only the empty directory: the server creates everything it needs.
    for name in os.listdir(srv.state):
        os.unlink(os.path.join(srv.state, name))
    srv.start()
    c = SMTPConn(2525)
    c.ehlo()
    from conftest import dot_stuff, queued_id
    r = c.mail_transaction("s@example.org", ["demo@localhost"],
                           dot_stuff(make_message(subject="embedded")))
    queued_id(r)
    c.quit()
    msgs = srv.wait_messages(1)
    assert len(msgs) == 1
    new = os.path.join(srv.state, "petrel-data", "mail", "localhost", "demo",
                       "new")
    assert len(os.listdir(new)) == 1
    # The demo account logs in with its documented password, on both
    # submission ports, and a user added with the tool can log in at once.
    import base64
    import subprocess
    for port, tls in ((2587, False), (2465, True)):
        c = SMTPConn(port, tls=tls)
        c.ehlo()
        if not tls:
            c.starttls()
            c.ehlo()
        r = c.cmd("AUTH PLAIN " + base64.b64encode(
            b"\0demo@localhost\0demo").decode())
        assert r.code == 235, r
        c.quit() if tls else c.close()
    p = subprocess.run([srv.bin, "user", "add", "alice@localhost"],
                       input="wonderland\n", capture_output=True, text=True,
                       cwd=srv.state, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    c = SMTPConn(2465, tls=True)
    c.ehlo()
    r = c.cmd("AUTH PLAIN " + base64.b64encode(
        b"\0alice@localhost\0wonderland").decode())
    assert r.code == 235, r
    c.quit()
