#!/usr/bin/python3
"""SMTP test clients for bench/run.sh (standard library only).

  smtpclients.py latency HOST PORT COUNT [SIZE]
      One session; COUNT messages of SIZE bytes sent one after the other.
      For each, the time from sending the final ".\r\n" of DATA to reading
      the 250 reply. Prints one JSON object with the percentiles (ms).

  smtpclients.py idle HOST PORT COUNT [TIMEOUT]
      Opens COUNT connections (at most 64 still in their handshake at any
      time); each reads the greeting, sends EHLO and reads the whole reply,
      then stays idle. Prints "ready OK FAILED" on stdout when every
      connection is settled, then holds them until stdin is closed or a line
      arrives, closes them all and exits. Bounded by TIMEOUT seconds for the
      opening phase.
"""
import json
import selectors
import socket
import sys
import time


def die(msg):
    sys.stderr.write("smtpclients: %s\n" % msg)
    sys.exit(1)


class Reader:
    """Reads SMTP replies (possibly multi-line) from a blocking socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                data = self.sock.recv(65536)
                if not data:
                    die("connection closed by server after %r" % lines)
                self.buf += data
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), lines


def body(size):
    # Header plus printable lines of at most 78 bytes, about SIZE bytes.
    head = (b"From: <bench@bench.test>\r\nTo: <demo@localhost>\r\n"
            b"Subject: latency probe\r\n\r\n")
    line = b"x" * 76 + b"\r\n"
    n = max(1, size // len(line))
    return head + line * n


def latency(host, port, count, size):
    s = socket.create_connection((host, port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    r = Reader(s)

    def cmd(line, want):
        s.sendall(line)
        code, lines = r.reply()
        if code != want:
            die("%r -> %r" % (line, lines))

    code, lines = r.reply()
    if code != 220:
        die("greeting %r" % lines)
    cmd(b"EHLO latency.bench.test\r\n", 250)
    data = body(size)
    samples = []
    for _ in range(count):
        cmd(b"MAIL FROM:<bench@bench.test>\r\n", 250)
        cmd(b"RCPT TO:<demo@localhost>\r\n", 250)
        cmd(b"DATA\r\n", 354)
        s.sendall(data)
        t0 = time.perf_counter_ns()
        s.sendall(b".\r\n")
        code, lines = r.reply()
        t1 = time.perf_counter_ns()
        if code != 250:
            die("end of data -> %r" % lines)
        samples.append((t1 - t0) / 1e6)
    s.sendall(b"QUIT\r\n")
    try:
        r.reply()
    except SystemExit:
        pass
    s.close()
    samples.sort()

    def pct(p):
        k = min(len(samples) - 1, max(0, int(round(p / 100.0 * len(samples) + 0.5)) - 1))
        return samples[k]

    print(json.dumps({
        "count": len(samples),
        "p50": pct(50), "p90": pct(90), "p99": pct(99),
        "min": samples[0], "max": samples[-1],
        "mean": sum(samples) / len(samples),
    }))


def idle(host, port, count, timeout):
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + timeout
    started = 0
    inflight = 0
    ok = []
    failed = 0
    errors = {}
    MAXFLIGHT = 64

    class Conn:
        __slots__ = ("sock", "state", "buf", "t")

    def start_one():
        c = Conn()
        c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.sock.setblocking(False)
        c.buf = b""
        c.state = "greet"
        c.t = time.monotonic()
        try:
            c.sock.connect((host, port))
        except BlockingIOError:
            pass
        sel.register(c.sock, selectors.EVENT_READ, c)

    def fail(c, why):
        nonlocal failed, inflight
        errors[why] = errors.get(why, 0) + 1
        failed += 1
        inflight -= 1
        sel.unregister(c.sock)
        c.sock.close()

    while (started < count or inflight) and time.monotonic() < deadline:
        while started < count and inflight < MAXFLIGHT:
            start_one()
            started += 1
            inflight += 1
        for key, _ in sel.select(timeout=0.5):
            c = key.data
            try:
                data = c.sock.recv(65536)
            except (ConnectionError, OSError) as e:
                fail(c, type(e).__name__)
                continue
            if not data:
                fail(c, "closed")
                continue
            c.buf += data
            # A complete reply ends with a line "ddd " + CRLF.
            while b"\r\n" in c.buf:
                line, c.buf = c.buf.split(b"\r\n", 1)
                if line[3:4] == b"-":
                    continue
                if c.state == "greet":
                    if not line.startswith(b"220"):
                        fail(c, line[:40].decode("ascii", "replace"))
                        break
                    c.state = "ehlo"
                    c.sock.setblocking(True)
                    c.sock.sendall(b"EHLO idle.bench.test\r\n")
                    c.sock.setblocking(False)
                else:
                    if not line.startswith(b"250"):
                        fail(c, line[:40].decode("ascii", "replace"))
                        break
                    sel.unregister(c.sock)
                    ok.append(c.sock)
                    inflight -= 1
                    break
        now = time.monotonic()
        for key in list(sel.get_map().values()):
            if now - key.data.t > 60:
                fail(key.data, "timeout")
    for key in list(sel.get_map().values()):
        fail(key.data, "deadline")
    failed += count - started
    sys.stdout.write("ready %d %d %s\n" % (len(ok), failed, json.dumps(errors)))
    sys.stdout.flush()
    try:
        sys.stdin.readline()
    except KeyboardInterrupt:
        pass
    for s in ok:
        s.close()


def main():
    a = sys.argv[1:]
    if len(a) < 4:
        die(__doc__)
    host, port, count = a[1], int(a[2]), int(a[3])
    if a[0] == "latency":
        latency(host, port, count, int(a[4]) if len(a) > 4 else 4096)
    elif a[0] == "idle":
        idle(host, port, count, float(a[4]) if len(a) > 4 else 300)
    else:
        die(__doc__)


if __name__ == "__main__":
    main()
