"""Local submission: `petrel sendmail` (also /usr/sbin/sendmail through a
symlink) against the running server's STATE/submit.sock.

The contract with the server: it listens on the unix stream socket
STATE/submit.sock (mode 0666) and speaks ESMTP there without AUTH, relays
for anyone, puts the client's uid (SO_PEERCRED) into its Received: field,
and answers 250 after the data only once the message is durable. The
command reads only the configuration text, so it works for a user who can
read the configuration file but not the TLS key: the tests run it as
`nobody` when they run as root.

Delivered messages are read from the Maildirs (LF line ends there); a
message for a remote domain stays in the spool, where the content is kept
in SMTP wire form (CRLF).
"""
import email.header
import os
import pwd
import shutil
import stat
import struct
import subprocess

import pytest

from conftest import (DEFAULT_USERS, HOSTNAME, PETREL_BIN, body_of,
                      parse_headers, send_sentinel, wait_until)

EX_USAGE, EX_DATAERR, EX_TEMPFAIL = 64, 65, 75


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def submit_sock(srv):
    return os.path.join(srv.state, "submit.sock")


def wait_submit(srv):
    """Waits until the server's submission socket exists."""
    path = submit_sock(srv)

    def ready():
        try:
            return stat.S_ISSOCK(os.stat(path).st_mode)
        except FileNotFoundError:
            return False
    wait_until(ready, what="STATE/submit.sock")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666


def as_nobody():
    """The command prefix that runs a program as nobody (when root)."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "nobody", "--"]
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("neither runuser nor setpriv to drop to nobody")
    pw = pwd.getpwnam("nobody")
    return [setpriv, "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
            "--clear-groups"]


def invoker():
    """The passwd entry of the user the command runs as."""
    return pwd.getpwnam("nobody") if os.geteuid() == 0 else \
        pwd.getpwuid(os.geteuid())


def sendmail(srv, args, data=b"", nobody=True, env_config=False,
             binary=None, timeout=60):
    """Runs `petrel sendmail ARGS` with DATA on stdin; returns the
    CompletedProcess. The configuration is given with --config, or in
    $PETREL_CONFIG with env_config."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    os.chmod(srv.conf_path, 0o644)  # whatever the umask: it is public
    cmd = as_nobody() if nobody else []
    cmd += binary if binary else [PETREL_BIN, "sendmail"]
    env = dict(os.environ)
    env.pop("PETREL_CONFIG", None)
    if env_config:
        env["PETREL_CONFIG"] = srv.conf_path
    else:
        cmd += ["--config", srv.conf_path]
    cmd += list(args)
    return subprocess.run(cmd, input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, env=env,
                          cwd=srv.state)


def ok(r):
    assert r.returncode == 0, "exit %d: %s" % (r.returncode,
                                               r.stderr.decode())


def headers(raw, name):
    """All values of the header field NAME (any case), unfolded."""
    return [v for k, v in parse_headers(raw) if k.lower() == name.lower()]


def head_of(raw):
    return raw.split(b"\n\n", 1)[0]


def the_message(srv, user, domain="example.test"):
    """The one message in user@domain's Maildir."""
    got = srv.wait_messages(1, domain=domain, user=user)
    assert len(got) == 1, got
    return got[0]


def queued_content(srv):
    """{qid: (content, envelope)} of the committed messages in the spool
    (docs/queue.md: content | envelope | 16-byte trailer)."""
    out = {}
    qdir = os.path.join(srv.spool_dir(), "queue")
    for name in os.listdir(qdir):
        if "." in name:
            continue
        with open(os.path.join(qdir, name), "rb") as f:
            data = f.read()
        assert data[-16:-8] == b"PTRLTAIL", name
        envlen = struct.unpack("<I", data[-8:-4])[0]
        end = len(data) - 16 - envlen
        out[name] = (data[:end], data[end:-16])
    return out


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------

def test_t_as_nobody_delivers(petrel):
    """The cron case: `sendmail -t` run by an unprivileged user who can
    read the configuration but not the TLS key. The From: field is added
    from the passwd entry, LF input arrives intact, and the server's
    Received: names the submitting uid."""
    wait_submit(petrel)
    msg = (b"To: Demo <demo@localhost>\n"
           b"Subject: from nobody\n"
           b"\n"
           b"hello from cron\n"
           b"second line\n")
    ok(sendmail(petrel, ["-t"], msg))
    raw = the_message(petrel, "demo", "localhost")
    pw = invoker()
    sender = "%s@%s" % (pw.pw_name, HOSTNAME)
    name = pw.pw_gecos.split(",")[0].strip()
    assert headers(raw, "Subject") == ["from nobody"]
    assert headers(raw, "To") == ["Demo <demo@localhost>"]
    assert headers(raw, "From") == \
        ["%s <%s>" % (name, sender) if name else sender]
    assert headers(raw, "Return-Path") == ["<%s>" % sender]
    assert body_of(raw) == b"hello from cron\nsecond line\n"
    assert b"\r" not in raw
    assert any(str(pw.pw_uid) in v for v in headers(raw, "Received")), \
        "no uid %d in %r" % (pw.pw_uid, headers(raw, "Received"))


def test_recipients_as_arguments(petrel):
    """Without -t only the arguments count: To: in the message is not a
    recipient. An argument may be a list, with display names."""
    wait_submit(petrel)
    msg = b"To: demo@localhost\nSubject: args\n\nfor alice and bob\n"
    r = sendmail(petrel, ["-v", "Alice <alice@example.test>, "
                          "bob@example.test"], msg)
    ok(r)
    # -v shows the dialogue.
    assert b">>> MAIL FROM:<" in r.stderr
    assert b">>> RCPT TO:<bob@example.test>" in r.stderr
    assert b"<<< 250" in r.stderr
    for user in ("alice", "bob"):
        raw = the_message(petrel, user)
        assert headers(raw, "Subject") == ["args"]
        assert body_of(raw) == b"for alice and bob\n"
    send_sentinel(petrel)
    assert len(petrel.messages("localhost", "demo")) == 1  # the sentinel


def test_bare_user_name_gets_hostname(petrel_factory):
    """A recipient without a domain ("root", in an argument or in To:) is
    root@HOSTNAME, as sendmail's @myorigin."""
    srv = petrel_factory(extra=["domain %s" % HOSTNAME],
                         users=DEFAULT_USERS + ["root@%s" % HOSTNAME])
    wait_submit(srv)
    ok(sendmail(srv, ["root"], b"Subject: one\n\nx\n"))
    ok(sendmail(srv, ["-t"], b"To: root, alice@example.test\n"
                             b"Subject: two\n\nx\n"))
    got = srv.wait_messages(2, domain=HOSTNAME, user="root")
    assert sorted(headers(m, "Subject")[0] for m in got) == ["one", "two"]
    the_message(srv, "alice")


def test_t_adds_argument_recipients(petrel):
    """With -t the header's recipients are added to the arguments (as
    Postfix does), each mailbox gets one copy."""
    wait_submit(petrel)
    msg = (b"To: alice@example.test\nCc: Bob <bob@example.test>, "
           b"alice@example.test\nSubject: both\n\nx\n")
    ok(sendmail(petrel, ["-t", "demo@localhost"], msg, env_config=True))
    for user, dom in (("alice", "example.test"), ("bob", "example.test"),
                      ("demo", "localhost")):
        the_message(petrel, user, dom)
    send_sentinel(petrel, rcpt="alice@example.test")
    assert len(petrel.messages("example.test", "alice")) == 2


def test_f_and_F(petrel):
    """-f sets the envelope sender, -F the name of the added From:; a
    message with its own From: keeps it."""
    wait_submit(petrel)
    ok(sendmail(petrel, ["-f", "owner@example.org", "-F", "Jane Q. Doe",
                         "alice@example.test"], b"Subject: one\n\nx\n"))
    raw = the_message(petrel, "alice")
    assert headers(raw, "From") == ['"Jane Q. Doe" <owner@example.org>']
    assert headers(raw, "Return-Path") == ["<owner@example.org>"]

    # -fADDR in one argument, a non-ASCII name as an encoded word.
    ok(sendmail(petrel, ["-fbounces@example.org", "-F", "J\u00f6rg \u00dcber",
                         "bob@example.test"], b"Subject: two\n\nx\n"))
    raw = the_message(petrel, "bob")
    assert headers(raw, "Return-Path") == ["<bounces@example.org>"]
    (value,) = headers(raw, "From")
    decoded = email.header.make_header(email.header.decode_header(value))
    assert str(decoded) == "J\u00f6rg \u00dcber <bounces@example.org>"

    # Its own From: stays; the null sender is "<>".
    ok(sendmail(petrel, ["-f", "<>", "-F", "Ignored", "demo@localhost"],
                b"From: Robot <robot@example.org>\nSubject: three\n\nx\n"))
    raw = the_message(petrel, "demo", "localhost")
    assert headers(raw, "From") == ["Robot <robot@example.org>"]
    assert headers(raw, "Return-Path") == ["<>"]


def test_bcc_removed_but_delivered(petrel):
    """-t: Bcc: recipients get the message, the field (continuation lines
    included) is in nobody's copy."""
    wait_submit(petrel)
    msg = (b"To: alice@example.test\n"
           b"Bcc: bob@example.test,\n"
           b"  Demo <demo@localhost>\n"
           b"Subject: bcc\n"
           b"\n"
           b"secret list\n")
    ok(sendmail(petrel, ["-t"], msg))
    copies = [the_message(petrel, "alice"), the_message(petrel, "bob"),
              the_message(petrel, "demo", "localhost")]
    for raw in copies:
        assert headers(raw, "Subject") == ["bcc"]
        assert headers(raw, "Bcc") == []
        assert b"Demo <demo@localhost>" not in head_of(raw)
        assert body_of(raw) == b"secret list\n"
    # Alice's copy names neither hidden recipient anywhere.
    assert b"bob@example.test" not in copies[0]
    assert b"demo@localhost" not in copies[0]


@pytest.mark.parametrize("flag", ["-i", "-oi"])
def test_i_keeps_lone_dot(petrel, flag):
    """-i/-oi: a line holding only "." is content (sent dot-stuffed, stored
    as it was)."""
    wait_submit(petrel)
    msg = b"Subject: dots\n\nbefore\n.\nafter\n..two\n.three\n"
    ok(sendmail(petrel, [flag, "alice@example.test"], msg))
    raw = the_message(petrel, "alice")
    assert body_of(raw) == b"before\n.\nafter\n..two\n.three\n"


def test_lone_dot_ends_input(petrel):
    """Without -i a line "." ends the message, like sendmail; what follows
    is not read."""
    wait_submit(petrel)
    msg = b"Subject: dot\n\nbefore\n..kept\n.\nafter the end\n"
    ok(sendmail(petrel, ["alice@example.test"], msg))
    raw = the_message(petrel, "alice")
    assert body_of(raw) == b"before\n..kept\n"


def test_crlf_and_cr_input(petrel):
    """CRLF input is taken as it is; a bare CR (a progress meter in cron
    output) becomes a line end, since the server refuses bare CRs."""
    wait_submit(petrel)
    msg = b"Subject: cr\r\n\r\n10%\r20%\r\r\ndone\r\n"
    ok(sendmail(petrel, ["alice@example.test"], msg))
    raw = the_message(petrel, "alice")
    assert body_of(raw) == b"10%\n20%\ndone\n"


def test_bs_session(petrel):
    """-bs: SMTP on stdin/stdout, relayed to the socket; the server's
    replies come back unchanged."""
    wait_submit(petrel)
    cmd = as_nobody() + [PETREL_BIN, "sendmail", "-bs", "--config",
                         petrel.conf_path]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=petrel.state)
    try:
        def reply():
            lines = []
            while True:
                ln = p.stdout.readline()
                assert ln.endswith(b"\r\n"), (ln, lines)
                lines.append(ln)
                if ln[3:4] != b"-":
                    return lines

        def say(line, code):
            p.stdin.write(line + b"\r\n")
            p.stdin.flush()
            r = reply()
            assert r[-1].startswith(code), (line, r)
            return r

        assert reply()[0].startswith(b"220 ")
        ehlo = say(b"EHLO client.test", b"250")
        assert any(b"PIPELINING" in ln for ln in ehlo)
        say(b"MAIL FROM:<bs@example.org>", b"250")
        say(b"RCPT TO:<demo@localhost>", b"250")
        say(b"DATA", b"354")
        say(b"Subject: via bs\r\n\r\n..dot stuffed\r\nend\r\n.", b"250")
        say(b"QUIT", b"221")
        p.stdin.close()
        assert p.wait(30) == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    raw = the_message(petrel, "demo", "localhost")
    assert headers(raw, "Subject") == ["via bs"]
    assert headers(raw, "Return-Path") == ["<bs@example.org>"]
    assert body_of(raw) == b".dot stuffed\nend\n"


def test_remote_recipient_is_queued_with_crlf(petrel):
    """A recipient in a domain that is not ours is relayed: the message is
    queued (exit 0), and the spool holds it with CRLF line ends although
    the input had LF only."""
    wait_submit(petrel)
    msg = b"Subject: away\n\nline one\nline two\n"
    ok(sendmail(petrel, ["someone@remote.example"], msg))
    queued = wait_until(lambda: queued_content(petrel),
                        what="a committed message in the spool")
    assert len(queued) == 1
    (content, envelope), = queued.values()
    assert b"\r\nSubject: away\r\n" in content
    assert content.endswith(b"\r\n\r\nline one\r\nline two\r\n")
    assert b"\n" not in content.replace(b"\r\n", b"")
    assert b"someone@remote.example" in envelope


def test_eightbit_message(petrel):
    """8-bit content (BODY=8BITMIME, SMTPUTF8 for the UTF-8 header) is
    delivered unchanged."""
    wait_submit(petrel)
    msg = ("Subject: caf\u00e9\nContent-Type: text/plain; charset=utf-8\n"
           "Content-Transfer-Encoding: 8bit\n\nd\u00e9j\u00e0 vu\n")
    r = sendmail(petrel, ["-v", "alice@example.test"], msg)
    ok(r)
    assert b"BODY=8BITMIME" in r.stderr
    raw = the_message(petrel, "alice")
    assert headers(raw, "Subject") == ["caf\u00e9"]
    assert body_of(raw) == "d\u00e9j\u00e0 vu\n".encode("utf-8")


def test_server_not_running(petrel_factory):
    """No server: exit 75 (EX_TEMPFAIL) and say which socket failed;
    before the first start, and after a stop."""
    srv = petrel_factory(start=False)
    r = sendmail(srv, ["alice@example.test"], b"Subject: x\n\nx\n")
    assert r.returncode == EX_TEMPFAIL, r
    assert b"cannot connect to " + submit_sock(srv).encode() in r.stderr

    srv.start()
    wait_submit(srv)
    ok(sendmail(srv, ["alice@example.test"], b"Subject: up\n\nx\n"))
    srv.wait_messages(1, domain="example.test", user="alice")
    srv.stop()
    r = sendmail(srv, ["alice@example.test"], b"Subject: down\n\nx\n")
    assert r.returncode == EX_TEMPFAIL, r
    assert b"cannot connect to " + submit_sock(srv).encode() in r.stderr


def test_usage_errors(petrel_factory):
    """Mistakes on the command line fail before anything is sent."""
    srv = petrel_factory(start=False)
    cases = [
        ([], b"x\n", EX_USAGE, b"no recipients"),
        (["-t"], b"Subject: none\n\nx\n", EX_USAGE, b"no recipients"),
        (["-Z", "a@example.test"], b"", EX_USAGE, b"unknown option -Z"),
        (["-f"], b"", EX_USAGE, b"needs a value"),
        (["-bp"], b"", EX_USAGE, b"-bp is not supported"),
        (["a@b@example.test"], b"x\n", EX_USAGE, b"a@b@example.test"),
        (["-t"], b"To: <broken@\n\nx\n", EX_DATAERR, b"To: field"),
    ]
    for args, data, code, text in cases:
        r = sendmail(srv, args, data)
        assert r.returncode == code, (args, r)
        assert text in r.stderr, (args, r.stderr)


def test_ignored_options_and_symlink(petrel):
    """Options that programs pass are accepted, and the binary works under
    the name "sendmail" (dispatch on argv[0])."""
    wait_submit(petrel)
    link = os.path.join(petrel.state, "sbin", "sendmail")
    os.mkdir(os.path.dirname(link), 0o755)
    os.symlink(PETREL_BIN, link)
    args = ["-oem", "-oee", "-odb", "-odi", "-oQ/var/spool/x", "-B",
            "8BITMIME", "-N", "never", "-R", "hdrs", "-V", "envid",
            "-L", "label", "-Am", "-U", "-G", "-ti", "--",
            "alice@example.test"]
    ok(sendmail(petrel, args, b"Subject: opts\n\nx\n", binary=[link]))
    raw = the_message(petrel, "alice")
    assert headers(raw, "Subject") == ["opts"]


def test_embedded_default_location(tmp_path):
    """Without --config, $PETREL_CONFIG or /etc/petrel/petrel.conf the
    embedded default is used: the socket is ./petrel-data/submit.sock."""
    if os.path.exists("/etc/petrel/petrel.conf"):
        pytest.skip("/etc/petrel/petrel.conf exists on this machine")
    env = dict(os.environ)
    env.pop("PETREL_CONFIG", None)
    r = subprocess.run([PETREL_BIN, "sendmail", "demo@localhost"],
                       input=b"x\n", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, cwd=str(tmp_path), env=env,
                       timeout=60)
    assert r.returncode == EX_TEMPFAIL, r
    sock = os.path.join(os.path.realpath(str(tmp_path)), "petrel-data",
                        "submit.sock")
    assert b"cannot connect to " + sock.encode() in r.stderr, r.stderr
