#!/usr/bin/python3
"""
bench/auth.py: authenticated submission figures. Starts its own petrel
(release binary, a scratch state directory, one account made with
`petrel user add`, so a yescrypt hash and SCRAM keys) and measures, over
implicit TLS (port 465 role):

  - PLAIN logins per second (each a fresh TLS connection, yescrypt check
    on the auth process's worker threads), with N parallel clients;
  - SCRAM-SHA-256 logins per second (keys stored: no hash at login);
  - authenticated sends per second on persistent sessions (AUTH once,
    then MAIL/RCPT/DATA to a local mailbox, delivered before the 250).

Usage: bench/auth.py [--petrel build/release/petrel] [--seconds 10]
       [--clients 8]
Every loop is bounded by --seconds and stops by itself.
"""
import argparse
import base64
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from scram import ScramClient  # noqa: E402

PASSWORD = "bench password 1"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Conn:
    def __init__(self, port):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.s = ctx.wrap_socket(raw)
        self.f = self.s.makefile("rb")
        self.reply()

    def reply(self):
        while True:
            ln = self.f.readline()
            if not ln:
                raise EOFError("closed")
            if ln[3:4] != b"-":
                return int(ln[:3]), ln[4:].strip()

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        try:
            self.cmd("QUIT")
        except (OSError, EOFError):
            pass
        self.s.close()


def plain_login(port, user):
    c = Conn(port)
    c.cmd("EHLO bench.test")
    code, _ = c.cmd("AUTH PLAIN " + base64.b64encode(
        ("\0%s\0%s" % (user, PASSWORD)).encode()).decode())
    assert code == 235, code
    c.close()


def scram_login(port, user):
    c = Conn(port)
    c.cmd("EHLO bench.test")
    sc = ScramClient(user, PASSWORD)
    code, text = c.cmd("AUTH SCRAM-SHA-256 " +
                       base64.b64encode(sc.client_first().encode()).decode())
    assert code == 334, code
    final = sc.client_final(base64.b64decode(text).decode())
    code, text = c.cmd(base64.b64encode(final.encode()).decode())
    assert code == 334 and sc.verify_server_final(
        base64.b64decode(text).decode())
    code, _ = c.cmd("")
    assert code == 235, code
    c.close()


def sender(port, user, stop, counts, i):
    c = Conn(port)
    c.cmd("EHLO bench.test")
    c.cmd("AUTH PLAIN " + base64.b64encode(
        ("\0%s\0%s" % (user, PASSWORD)).encode()).decode())
    body = ("From: %s\r\nTo: %s\r\nSubject: bench\r\n\r\n" % (user, user) +
            ("x" * 78 + "\r\n") * 50 + ".\r\n").encode()
    while not stop.is_set():
        assert c.cmd("MAIL FROM:<%s>" % user)[0] == 250
        assert c.cmd("RCPT TO:<%s>" % user)[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.s.sendall(body)
        assert c.reply()[0] == 250
        counts[i] += 1
    c.close()


def run_parallel(fn, clients, seconds):
    stop = threading.Event()
    counts = [0] * clients

    def loop(i):
        while not stop.is_set():
            fn()
            counts[i] += 1
    ts = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in ts:
        t.join()
    return sum(counts) / (time.monotonic() - t0)


def cpu_seconds(pid):
    """User+system CPU of pid and its children (the petrel processes)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid] + [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True,
        text=True).stdout.split()]
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--petrel", default=os.path.join(
        HERE, "..", "build", "release", "petrel"))
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=8)
    a = ap.parse_args()
    petrel = os.path.abspath(a.petrel)
    state = tempfile.mkdtemp(prefix="petrel-authbench-")
    os.chmod(state, 0o755)
    port = free_port()
    conf = os.path.join(state, "petrel.conf")
    with open(conf, "w") as f:
        f.write("hostname bench.test\nstate-dir %s\ndomain bench.test\n"
                "listen 127.0.0.1:%d submissions\n"
                "listen 127.0.0.1:%d mx\n"
                "auth-fail-limit-ip 100000\nlog-level warn\n"
                % (state, port, free_port()))
    open(os.path.join(state, "users"), "w").close()
    user = "bench@bench.test"
    subprocess.run([petrel, "user", "add", user, "--config", conf],
                   input=PASSWORD + "\n", text=True, check=True,
                   capture_output=True)
    log = open(os.path.join(state, "petrel.log"), "wb")
    srv = subprocess.Popen([petrel, "serve", "--config", conf],
                           stdout=log, stderr=subprocess.STDOUT,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                Conn(port).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        rows = []
        for name, fn in (("PLAIN login (yescrypt)",
                          lambda: plain_login(port, user)),
                         ("SCRAM-SHA-256 login", lambda: scram_login(port,
                                                                    user))):
            c0 = cpu_seconds(srv.pid)
            rate = run_parallel(fn, a.clients, a.seconds)
            cpu = cpu_seconds(srv.pid) - c0
            rows.append((name, rate, cpu * 1000 / (rate * a.seconds)))
        stop = threading.Event()
        counts = [0] * a.clients
        ts = [threading.Thread(target=sender, args=(port, user, stop, counts,
                                                    i))
              for i in range(a.clients)]
        c0 = cpu_seconds(srv.pid)
        t0 = time.monotonic()
        for t in ts:
            t.start()
        time.sleep(a.seconds)
        stop.set()
        for t in ts:
            t.join()
        rate = sum(counts) / (time.monotonic() - t0)
        cpu = cpu_seconds(srv.pid) - c0
        rows.append(("authenticated send, 4 KB, persistent", rate,
                     cpu * 1000 / max(1, sum(counts))))
        print("%-40s %10s %14s" % ("", "per second", "server CPU ms"))
        for name, rate, ms in rows:
            print("%-40s %10.1f %14.2f" % (name, rate, ms))
    finally:
        srv.terminate()
        srv.wait(timeout=60)
        subprocess.run(["rm", "-rf", state])


if __name__ == "__main__":
    main()
