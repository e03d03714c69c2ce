#!/usr/bin/python3
"""
bench/relay.py: outbound relay throughput (issue 4). petrel and, as root
with Postfix installed, a private Postfix in the same run take in the same
load from smtp-source (20 sessions, 4 KB messages to a remote address,
relaying allowed for 127.0.0.0/8) and hand every message on to one
smtp-sink through their outbound path: petrel's remote process with
`smarthost 127.0.0.1:SINK` (no TLS), Postfix's smtp client with
`relayhost = [127.0.0.1]:SINK`. Both keep their default of 20 connections
per destination. Figures per server: messages/s accepted (smtp-source wall
time), messages/s relayed (until the last "status=sent" in its log) and
server CPU per message (every server process, as bench.py counts it).

Usage: bench/relay.py --petrel build/release/petrel --tmp DIR
       [--messages 3000] [--rounds 3] [--no-postfix] [--out FILE]
bench/run.sh runs it after bench.py. Every wait is bounded.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402

RCPT = "user@remote.bench.test"


def sent_count(path, needle):
    """Lines of the log at path that report a relayed message."""
    try:
        with open(path, "rb") as f:
            return sum(1 for ln in f if needle in ln and b"status=sent" in ln)
    except OSError:
        return 0


def petrel_log(srv):
    return os.path.join(srv.state, "petrel.log")


def postfix_log(srv):
    return os.path.join(srv.base, "maillog")


def one_round(srv, logf, needle, a):
    n0 = sent_count(logf(srv), needle)
    root = srv.root()
    before = B.cpu_snapshot(root)
    t0, t1 = B.smtp_source(srv.port, a.messages, a.sessions, a.size,
                           rcpt=RCPT)
    B.wait_for(lambda: sent_count(logf(srv), needle) >= n0 + a.messages,
               a.timeout, "%d messages relayed by %s" % (a.messages,
                                                         srv.name), 0.1)
    t2 = time.monotonic()
    after = B.cpu_snapshot(root)
    cpu, by, _ = B.cpu_delta(before, after)
    return {"accept": a.messages / (t1 - t0), "relay": a.messages / (t2 - t0),
            "cpu_ms": cpu * 1000.0 / a.messages, "by": by}


def measure(srv, logf, needle, a):
    srv.start()
    try:
        B.smtp_source(srv.port, 100, 10, a.size, rcpt=RCPT)   # warm-up
        B.wait_for(lambda: sent_count(logf(srv), needle) >= 100, a.timeout,
                   "warm-up relayed by %s" % srv.name, 0.1)
        rounds = [one_round(srv, logf, needle, a) for _ in range(a.rounds)]
    finally:
        srv.stop()
    med = {k: B.median([r[k] for r in rounds])
           for k in ("accept", "relay", "cpu_ms")}
    med["rounds"] = [r["relay"] for r in rounds]
    med["by"] = sorted(rounds[-1]["by"].items(), key=lambda kv: -kv[1])
    return med


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--petrel", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--out")
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--no-postfix", action="store_true")
    a = ap.parse_args()
    a.tmp = os.path.join(a.tmp, "relay")     # apart from bench.py's servers
    os.makedirs(a.tmp, exist_ok=True)
    os.chmod(a.tmp, 0o755)

    def on_term(signum, frame):
        raise SystemExit("signal %d" % signum)   # the finally blocks run
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    sink_port = B.pick_port(25025)
    sink = subprocess.Popen(["smtp-sink", "-u", "nobody",
                             "127.0.0.1:%d" % sink_port, "1000"],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    with open(os.path.join(a.tmp, "sink.pid"), "w") as f:
        f.write("%d\n" % sink.pid)
    out = ["relay through the outbound path to smtp-sink: %d x %d B, "
           "%d sessions, median of %d rounds" % (a.messages, a.size,
                                                  a.sessions, a.rounds)]
    res = {}
    try:
        B.wait_for(lambda: B.smtp_greets(sink_port), 20, "smtp-sink")
        port = B.pick_port(sink_port + 1)
        p = B.Petrel(a.petrel, a.tmp, port, extra_conf=[
            "relay-from 127.0.0.0/8",
            "smarthost 127.0.0.1:%d" % sink_port, "smarthost-tls none",
            "dns-resolver 127.0.0.1", "dns-trust-anchor none"])
        res["petrel"] = measure(p, petrel_log, b"petrel[queue]", a)
        if a.no_postfix or os.geteuid() != 0 or not shutil.which("postfix"):
            out.append("postfix: not measured (needs root and Debian's "
                       "postfix)")
        else:
            pf = B.Postfix(a.tmp, B.pick_port(port + 1), extra_main_cf=[
                "relayhost = [127.0.0.1]:%d" % sink_port,
                "smtp_tls_security_level = none"])
            res["postfix"] = measure(pf, postfix_log, b"status=sent", a)
    finally:
        sink.terminate()
        try:
            sink.wait(10)
        except subprocess.TimeoutExpired:
            sink.kill()
    for name, r in res.items():
        out.append("%-8s accepted %.0f msg/s, relayed %.0f msg/s (rounds: %s), "
                   "server CPU %.2f ms/msg (CPU seconds in the last round: %s)" % (
                       name, r["accept"], r["relay"],
                       ", ".join("%.0f" % x for x in r["rounds"]), r["cpu_ms"],
                       ", ".join("%s %.2f" % kv for kv in r["by"])))
    if len(res) == 2:
        out.append("petrel/postfix: relayed %.2fx, CPU per message %.2fx" % (
            res["petrel"]["relay"] / res["postfix"]["relay"],
            res["petrel"]["cpu_ms"] / res["postfix"]["cpu_ms"]))
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "a") as f:
            f.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
