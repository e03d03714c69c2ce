#!/usr/bin/python3
"""petrel benchmark driver (standard library only); bench/run.sh calls it.

For petrel and, when it is installed and we are root, a private Postfix
instance, it measures:
  1. throughput: smtp-source, 20 sessions, 5000 messages of 4 KB to a local
     Maildir: messages/s accepted (wall time of smtp-source) and delivered
     (until every file is in Maildir/new), server CPU per message (utime +
     stime of every server process, plus what their parents reaped), peak
     memory (sum of PSS of the server processes, sampled every 0.2 s);
  2. memory per idle session (1000 and 5000 sessions after EHLO), from the
     growth of the PSS (and RSS) sum of the server processes;
  3. latency from the end of DATA to the 250 reply, one session, 500
     messages one after the other: p50 and p99.
Every wait is bounded; servers are stopped in a finally block (and run.sh
kills what is left from the pid files).
"""
import argparse
import json
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENTS = os.path.join(HERE, "smtpclients.py")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
TCK = os.sysconf("SC_CLK_TCK")
FROM = "bench@bench.test"
RCPT = "demo@localhost"


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- /proc

def read_stat(pid):
    """(comm, ppid, own ticks, reaped children's ticks, system part of both)
    or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    comm = s[s.index("(") + 1:s.rindex(")")]
    f = s[s.rindex(")") + 2:].split()
    # after ")": state ppid pgrp session tty tpgid flags minflt cminflt
    # majflt cmajflt utime stime cutime cstime
    return (comm, int(f[1]), int(f[11]) + int(f[12]), int(f[13]) + int(f[14]),
            int(f[12]) + int(f[14]))


def tree(root):
    """root and all its descendants."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = read_stat(int(d))
        if st:
            kids.setdefault(st[1], []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_name(pid, comm):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return comm
    if len(argv) > 2 and argv[1] == b"__child":
        return argv[2].decode()
    if len(argv) > 1 and argv[1] == b"serve":
        return "parent"
    return comm


def cpu_snapshot(root):
    """{pid: (name, own ticks, reaped ticks, system part of both)} for the
    tree under root."""
    snap = {}
    for p in tree(root):
        st = read_stat(p)
        if st:
            snap[p] = (proc_name(p, st[0]), st[2], st[3], st[4])
    return snap


def cpu_delta(before, after):
    """Total CPU seconds between snapshots, a breakdown by process name, and
    the system (kernel) part of the total."""
    tot_b = sum(v[1] + v[2] for v in before.values())
    tot_a = sum(v[1] + v[2] for v in after.values())
    sys_t = sum(v[3] for v in after.values()) - sum(v[3] for v in before.values())
    by = {}
    for p, (name, own, _, _) in after.items():
        prev = before.get(p)
        d = own - (prev[1] if prev is not None and prev[0] == name else 0)
        by[name] = by.get(name, 0) + d
    reaped = sum(v[2] for v in after.values()) - sum(v[2] for v in before.values())
    vanished = sum(v[1] for p, v in before.items() if p not in after)
    if reaped - vanished:
        by["(exited children)"] = reaped - vanished
    return (tot_a - tot_b) / TCK, {k: v / TCK for k, v in by.items() if v}, sys_t / TCK


def mem_of(pid):
    """(pss, rss, hwm, anon pss + page tables) of one process in kB, zeros
    if it is gone."""
    pss = rss = hwm = anon = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss_Anon:"):
                    anon += int(line.split()[1])
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("VmPTE:"):
                    anon += int(line.split()[1])
    except (OSError, ValueError):
        pass
    return pss, rss, hwm, anon


def mem_sum(root):
    pids = tree(root)
    t = [0, 0, 0, 0]
    for p in pids:
        for i, v in enumerate(mem_of(p)):
            t[i] += v
    return {"pss": t[0], "rss": t[1], "hwm": t[2], "anon": t[3], "nproc": len(pids)}


class MemSampler(threading.Thread):
    def __init__(self, root, period=0.2):
        super().__init__(daemon=True)
        self.root, self.period = root, period
        self.stop_ev = threading.Event()
        self.peak_pss = self.peak_rss = self.peak_nproc = 0

    def run(self):
        while not self.stop_ev.is_set():
            m = mem_sum(self.root)
            self.peak_pss = max(self.peak_pss, m["pss"])
            self.peak_rss = max(self.peak_rss, m["rss"])
            self.peak_nproc = max(self.peak_nproc, m["nproc"])
            self.stop_ev.wait(self.period)

    def stop(self):
        self.stop_ev.set()
        self.join(5)


# ---------------------------------------------------------------- helpers

def wait_for(pred, timeout, what, period=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise BenchError("timed out after %ds waiting for %s" % (timeout, what))
        time.sleep(period)


def smtp_greets(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            return s.recv(512).startswith(b"220")
    except OSError:
        return False


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def pick_port(start):
    for p in range(start, start + 200):
        if port_free(p):
            return p
    raise BenchError("no free port near %d" % start)


def mem_available_kb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def count_dir(path):
    try:
        return sum(1 for _ in os.scandir(path))
    except FileNotFoundError:
        return 0


def kill_tree(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def alive(pid):
    st = read_stat(pid)
    if not st:
        return False
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line
    except OSError:
        return False
    return True


# ---------------------------------------------------------------- servers

class Petrel:
    name = "petrel"

    def __init__(self, binary, tmp, port, extra_conf=()):
        self.binary, self.tmp, self.port = binary, tmp, port
        self.extra_conf = list(extra_conf)  # more petrel.conf lines
        self.proc = None
        self.n = 0
        self.state = None

    def start(self):
        self.n += 1
        st = os.path.join(self.tmp, "petrel-%d" % self.n)
        os.makedirs(st)
        os.chmod(st, 0o755)
        with open(os.path.join(st, "users"), "w") as f:
            f.write(RCPT + "\n")
        conf = os.path.join(st, "petrel.conf")
        with open(conf, "w") as f:
            f.write("hostname bench.test\nstate-dir %s\nlisten 127.0.0.1:%d mx\n"
                    "domain localhost\nusers %s/users\nmax-connections 10000\n"
                    "max-connections-per-ip 10000\n" % (st, self.port, st))
            f.write("".join(ln + "\n" for ln in self.extra_conf))
        self.state = st
        self.logf = open(os.path.join(st, "petrel.log"), "ab")
        self.proc = subprocess.Popen([self.binary, "serve", "--config", conf],
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        with open(os.path.join(self.tmp, "petrel.pid"), "w") as f:
            f.write("%d\n" % self.proc.pid)
        try:
            wait_for(lambda: self.proc.poll() is not None or smtp_greets(self.port),
                     30, "petrel to greet on port %d" % self.port)
            if self.proc.poll() is not None:
                raise BenchError("petrel exited with %s" % self.proc.returncode)
            wait_for(lambda: len(tree(self.proc.pid)) >= 4, 10, "petrel's children")
        except BenchError:
            self.dump_log()
            raise

    def dump_log(self):
        if self.state:
            try:
                with open(os.path.join(self.state, "petrel.log"), "rb") as f:
                    sys.stderr.write(f.read()[-3000:].decode("utf-8", "replace"))
            except OSError:
                pass

    def root(self):
        return self.proc.pid

    def maildir_new(self):
        return os.path.join(self.state, "mail", "localhost", "demo", "new")

    def queue_empty(self):
        q = os.path.join(self.state, "spool")
        for sub in ("queue", "incoming"):
            if count_dir(os.path.join(q, sub)):
                return False
        return True

    def pids_by_name(self):
        return {proc_name(p, ""): p for p in tree(self.proc.pid)}

    def stop(self):
        if not self.proc:
            return
        pids = tree(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                log("petrel did not stop in 15 s; SIGKILL")
        kill_tree([p for p in pids if alive(p)], signal.SIGKILL)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        self.logf.close()


class Postfix:
    name = "postfix"

    def __init__(self, tmp, port, extra_main_cf=()):
        self.tmp, self.port = tmp, port
        self.extra_main_cf = list(extra_main_cf)  # more main.cf lines
        self.base = os.path.join(tmp, "postfix")
        self.etc = os.path.join(self.base, "etc")
        self.queue = os.path.join(self.base, "queue")
        self.mail = os.path.join(self.base, "mail")
        self.master = None
        try:
            pw = pwd.getpwnam("nobody")
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
        except KeyError:
            pw = pwd.getpwnam("postfix")
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.configure()

    def configure(self):
        b = self.base
        for d in (self.etc, self.queue, os.path.join(b, "data"),
                  os.path.join(self.mail, "localhost")):
            os.makedirs(d, exist_ok=True)
        os.chmod(b, 0o755)
        pf = pwd.getpwnam("postfix")
        os.chown(os.path.join(b, "data"), pf.pw_uid, pf.pw_gid)
        for d in (self.mail, os.path.join(self.mail, "localhost")):
            os.chown(d, self.uid, self.gid)
        with open(os.path.join(self.etc, "vmailbox"), "w") as f:
            f.write("%s localhost/demo/\n" % RCPT)
        main_cf = """\
compatibility_level = 3.6
queue_directory = {q}
data_directory = {b}/data
meta_directory = /etc/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = pf.bench.test
mydomain = bench.test
myorigin = $mydomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_peername_lookup = no
alias_maps =
alias_database =
local_recipient_maps =
virtual_mailbox_domains = localhost
virtual_mailbox_base = {m}
virtual_mailbox_maps = texthash:{e}/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
default_process_limit = 6000
maillog_file = {b}/maillog
maillog_file_prefixes = {b}
biff = no
""".format(q=self.queue, b=b, m=self.mail, e=self.etc, uid=self.uid, gid=self.gid)
        main_cf += "".join(ln + "\n" for ln in self.extra_main_cf)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(main_cf)
        services = [
            ("127.0.0.1:%d" % self.port, "inet", "n", "-", "n", "-", "-", "smtpd"),
            ("pickup", "unix", "n", "-", "n", "60", "1", "pickup"),
            ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
            ("rewrite", "unix", "-", "-", "n", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "n", "-", "1", "verify"),
            ("flush", "unix", "n", "-", "n", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "n", "-", "-", "proxymap"),
            ("showq", "unix", "n", "-", "n", "-", "-", "showq"),
            ("error", "unix", "-", "-", "n", "-", "-", "error"),
            ("retry", "unix", "-", "-", "n", "-", "-", "error"),
            ("discard", "unix", "-", "-", "n", "-", "-", "discard"),
            ("smtp", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("relay", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("local", "unix", "-", "n", "n", "-", "-", "local"),
            ("virtual", "unix", "-", "n", "n", "-", "-", "virtual"),
            ("anvil", "unix", "-", "-", "n", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "n", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd"),
        ]
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            for s in services:
                f.write("%-20s %-10s %s\n" % (s[0], s[1], "  ".join(s[2:])))

    def postfix_cmd(self, *args, timeout=60):
        cmd = ["postfix", "-c", self.etc] + list(args)
        # Postfix reports to syslog when stderr is not a terminal: give it one.
        if shutil.which("script"):
            cmd = ["script", "-qec", " ".join(cmd), "/dev/null"]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        return r.returncode, r.stdout.decode("utf-8", "replace")

    def start(self):
        rc, out = self.postfix_cmd("start")
        if rc != 0:
            raise BenchError("postfix start failed (%d): %s" % (rc, out.strip()))
        pidfile = os.path.join(self.queue, "pid", "master.pid")

        def master_pid():
            try:
                with open(pidfile) as f:
                    return int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                return 0
        self.master = wait_for(master_pid, 20, "postfix master.pid")
        with open(os.path.join(self.tmp, "postfix.pid"), "w") as f:
            f.write("%d\n" % self.master)
        wait_for(lambda: smtp_greets(self.port), 30,
                 "postfix to greet on port %d" % self.port)

    def root(self):
        return self.master

    def maildir_new(self):
        return os.path.join(self.mail, "localhost", "demo", "new")

    def queue_empty(self):
        for sub in ("incoming", "active", "deferred", "maildrop", "hold"):
            p = os.path.join(self.queue, sub)
            for dirpath, _, files in os.walk(p):
                if files:
                    return False
        return True

    def stop(self):
        if not self.master:
            return
        pids = tree(self.master)
        try:
            self.postfix_cmd("stop", timeout=30)
        except subprocess.TimeoutExpired:
            log("postfix stop timed out")
        try:
            wait_for(lambda: not alive(self.master), 20, "postfix master to exit", 0.2)
        except BenchError as e:
            log(str(e))
        pids = [p for p in set(pids + tree(self.master)) if alive(p)]
        kill_tree(pids, signal.SIGKILL)
        self.master = None

    def maillog_tail(self):
        try:
            with open(os.path.join(self.base, "maillog")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""


# ---------------------------------------------------------------- tests

def smtp_source(port, count, sessions, size, persistent=False, timeout=900,
                rcpt=RCPT):
    cmd = ["smtp-source", "-l", str(size), "-m", str(count), "-s", str(sessions),
           "-f", FROM, "-t", rcpt]
    if persistent:
        cmd.insert(1, "-d")
    cmd.append("127.0.0.1:%d" % port)
    t0 = time.monotonic()
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    t1 = time.monotonic()
    if r.returncode != 0:
        raise BenchError("smtp-source failed (%d): %s" % (
            r.returncode, r.stderr.decode("utf-8", "replace")[-500:]))
    return t0, t1


def throughput(srv, a, persistent):
    new = srv.maildir_new()
    n0 = count_dir(new)
    root = srv.root()
    before = cpu_snapshot(root)
    sampler = MemSampler(root)
    sampler.start()
    try:
        t0, t1 = smtp_source(srv.port, a.messages, a.sessions, a.size, persistent)
        wait_for(lambda: count_dir(new) >= n0 + a.messages, a.deliver_timeout,
                 "%d messages in %s" % (a.messages, new), 0.05)
        t2 = time.monotonic()
        try:
            wait_for(srv.queue_empty, 60, "%s queue to empty" % srv.name, 0.1)
        except BenchError as e:
            log(str(e))
        after = cpu_snapshot(root)
    finally:
        sampler.stop()
    cpu, by, cpu_sys = cpu_delta(before, after)
    end_hwm = mem_sum(root)["hwm"]
    return {
        "messages": a.messages,
        "accept_s": t1 - t0, "deliver_s": t2 - t0,
        "accept_rate": a.messages / (t1 - t0),
        "deliver_rate": a.messages / (t2 - t0),
        "cpu_s": cpu, "cpu_ms_per_msg": cpu * 1000.0 / a.messages,
        "cpu_sys_s": cpu_sys,
        "cpu_by_process": by,
        "peak_pss_kb": sampler.peak_pss, "peak_rss_kb": sampler.peak_rss,
        "peak_nproc": sampler.peak_nproc, "hwm_sum_kb": end_hwm,
        "delivered": count_dir(new) - n0,
    }


def latency(srv, a):
    r = subprocess.run([PY, CLIENTS, "latency", "127.0.0.1", str(srv.port),
                        str(a.latency_count), str(a.size)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=600)
    if r.returncode != 0:
        raise BenchError("latency client: %s" % r.stderr.decode()[-500:])
    return json.loads(r.stdout)


def idle_sessions(srv, n, a):
    root = srv.root()
    time.sleep(1)
    base = mem_sum(root)
    cpu0 = cpu_snapshot(root)
    p = subprocess.Popen([PY, CLIENTS, "idle", "127.0.0.1", str(srv.port), str(n),
                          str(a.idle_timeout)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        t0 = time.monotonic()
        ready, _, _ = select.select([p.stdout], [], [], a.idle_timeout + 60)
        if not ready:
            raise BenchError("idle client did not report within %ds" % (a.idle_timeout + 60))
        line = p.stdout.readline().decode().split(None, 3)
        if not line or line[0] != "ready":
            raise BenchError("idle client: %r %s" % (line, p.stderr.read().decode()[-500:]))
        ok, failed = int(line[1]), int(line[2])
        errors = line[3].strip() if len(line) > 3 else "{}"
        t_open = time.monotonic() - t0
        time.sleep(2)
        m = mem_sum(root)
        cpu1 = cpu_snapshot(root)
    finally:
        try:
            p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
    if ok == 0:
        raise BenchError("no idle session could be opened (%s)" % errors)
    return {
        "wanted": n, "ok": ok, "failed": failed, "errors": errors,
        "open_s": t_open,
        "base": base, "loaded": m,
        "pss_kb_per_session": (m["pss"] - base["pss"]) / ok,
        "rss_kb_per_session": (m["rss"] - base["rss"]) / ok,
        "anon_kb_per_session": (m["anon"] - base["anon"]) / ok,
        "open_cpu_ms_per_session": cpu_delta(cpu0, cpu1)[0] * 1000.0 / ok,
    }


LOAD = {}


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2.0


def aggregate(runs):
    """Median of every numeric field over the rounds; the run whose accepted
    rate (or p50) is the median is kept for the details."""
    if not runs:
        return None
    out = {}
    for k, v in runs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = median([r[k] for r in runs])
        else:
            out[k] = v
    key = "accept_rate" if "accept_rate" in runs[0] else "p50"
    mid = sorted(runs, key=lambda r: r[key])[len(runs) // 2]
    for k, v in mid.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            out[k] = v
    out["rounds"] = [r[key] for r in runs]
    return out


class Failed(Exception):
    pass


def guarded(srv, res, what, fn):
    """Runs one measurement; on failure records it and drops the server."""
    try:
        return fn()
    except (BenchError, subprocess.TimeoutExpired, OSError, ValueError) as e:
        log("%s: FAILED during %s: %s" % (srv.name, what, e))
        res["error"] = "%s: %s" % (what, e)
        if isinstance(srv, Postfix):
            sys.stderr.write(srv.maillog_tail())
        else:
            srv.dump_log()
        try:
            srv.stop()
        except Exception as e2:  # keep going to stop the others
            log("%s: stop: %s" % (srv.name, e2))
        raise Failed()


def run_all(servers, a):
    """Throughput and latency rounds alternate between the servers (both
    running, one loaded at a time) so that a machine shared with other work
    disturbs them alike; the reported figure is the median of the rounds.
    Each idle-session test gets a freshly started server."""
    res = {s.name: {"tput": [], "tput_d": [], "lat": []} for s in servers}
    live = list(servers)

    def each(what, fn, order=None):
        for srv in list(order or live):
            if srv not in live:
                continue
            try:
                guarded(srv, res[srv.name], what, lambda: fn(srv))
            except Failed:
                live.remove(srv)

    def start(srv):
        log("%s: start" % srv.name)
        srv.start()

    def warm(srv):
        log("%s: warm-up (%d messages)" % (srv.name, a.warmup))
        new = srv.maildir_new()
        n0 = count_dir(new)
        smtp_source(srv.port, a.warmup, a.sessions, a.size)
        wait_for(lambda: count_dir(new) >= n0 + a.warmup, 120, "warm-up delivery")
        wait_for(srv.queue_empty, 60, "queue to empty after warm-up", 0.1)

    def tput(persistent):
        key = "tput_d" if persistent else "tput"

        def fn(srv):
            r = throughput(srv, a, persistent)
            res[srv.name][key].append(r)
            log("%s: %s%.0f msg/s accepted, %.0f msg/s delivered, %.2f ms CPU/msg" % (
                srv.name, "(-d) " if persistent else "", r["accept_rate"],
                r["deliver_rate"], r["cpu_ms_per_msg"]))
        return fn

    def lat(srv):
        r = latency(srv, a)
        res[srv.name]["lat"].append(r)
        log("%s: latency p50 %.2f ms, p99 %.2f ms" % (srv.name, r["p50"], r["p99"]))

    try:
        each("start", start)
        each("warm-up", warm)
        for rnd in range(a.rounds):
            order = live if rnd % 2 == 0 else list(reversed(live))
            log("round %d/%d: throughput, %d messages, %d sessions, a connection per message"
                % (rnd + 1, a.rounds, a.messages, a.sessions))
            each("throughput", tput(False), order)
            if a.persistent:
                log("round %d/%d: throughput, %d sessions kept open (smtp-source -d)"
                    % (rnd + 1, a.rounds, a.sessions))
                each("throughput -d", tput(True), order)
            log("round %d/%d: latency, %d messages in one session"
                % (rnd + 1, a.rounds, a.latency_count))
            each("latency", lat, order)
    finally:
        for srv in servers:
            srv.stop()
    LOAD["after_rounds"] = "%.2f" % os.getloadavg()[0]

    def idle(n):
        def fn(srv):
            nn = n
            if isinstance(srv, Postfix):
                # One smtpd process per session, about 1.3 MB each: keep
                # 3 GB of the machine free.
                cap = max(100, (mem_available_kb() - 3 * 1024 * 1024) // 2048)
                if cap < n:
                    log("postfix: only %d idle sessions fit in memory" % cap)
                    nn = cap
            log("%s: fresh start for %d idle sessions" % (srv.name, nn))
            srv.start()
            try:
                r = idle_sessions(srv, nn, a)
            finally:
                srv.stop()
            res[srv.name]["idle%d" % n] = r
            log("%s: %d/%d idle sessions open in %.1fs: %.1f KB PSS, %.1f KB anon+PTE, "
                "%.1f KB RSS per session" % (srv.name, r["ok"], nn, r["open_s"],
                                             r["pss_kb_per_session"],
                                             r["anon_kb_per_session"],
                                             r["rss_kb_per_session"]))
        return fn

    try:
        for n in a.idle:
            each("idle x%d" % n, idle(n))
    finally:
        for srv in servers:
            srv.stop()

    out = {}
    for name, r in res.items():
        o = {k: v for k, v in r.items() if k not in ("tput", "tput_d", "lat")}
        for k in ("tput", "tput_d", "lat"):
            if r[k]:
                o[k] = aggregate(r[k])
        out[name] = o
    return out


# ---------------------------------------------------------------- report

def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def report(a, results, env):
    P, X = results.get("petrel", {}), results.get("postfix")
    rows = []

    def get(res, *path):
        cur = res
        for k in path:
            if not isinstance(cur, dict) or k not in cur:
                return None
            cur = cur[k]
        return cur

    def row(label, path, spec, better, target=None):
        pv = get(P, *path)
        xv = get(X, *path) if X is not None else None
        ratio = pv / xv if pv is not None and xv not in (None, 0) else None
        verdict = ""
        if target:
            ok = target(pv, ratio)
            verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        if ratio is None:
            rtext = "-"
        elif 0 < ratio < 0.1:
            rtext = "1/%.0f" % (1 / ratio)
        else:
            rtext = "%.2fx" % ratio
        rows.append((label, fmt(pv, spec), fmt(xv, spec), rtext, better,
                     target.__doc__ if target else "", verdict))

    def t_3x(pv, ratio):
        ">= 3x Postfix"
        return None if ratio is None else ratio >= 3.0

    def t_cpu(pv, ratio):
        "<= 1 ms/msg"
        return None if pv is None else pv <= 1.0

    def t_idle(pv, ratio):
        "<= 32 KB"
        return None if pv is None else pv <= 32.0

    m, s = a.messages, a.sessions
    row("accepted msg/s (%d x %dB, %d sess)" % (m, a.size, s), ("tput", "accept_rate"), ".0f", "higher", t_3x)
    row("delivered msg/s (all in Maildir)", ("tput", "deliver_rate"), ".0f", "higher", t_3x)
    row("server CPU ms/msg (= CPU s/1000 msg)", ("tput", "cpu_ms_per_msg"), ".2f", "lower", t_cpu)
    row("peak memory, sum PSS (MB)", ("tput", "peak_pss_kb"), ".1f", "lower")
    if a.persistent:
        row("accepted msg/s, -d (1 conn/session)", ("tput_d", "accept_rate"), ".0f", "higher", t_3x)
        row("delivered msg/s, -d", ("tput_d", "deliver_rate"), ".0f", "higher", t_3x)
        row("server CPU ms/msg, -d", ("tput_d", "cpu_ms_per_msg"), ".2f", "lower", t_cpu)
    for n in a.idle:
        row("idle session x%d: KB PSS/session" % n, ("idle%d" % n, "pss_kb_per_session"), ".1f", "lower", t_idle)
        row("idle session x%d: KB anon+PTE/session" % n, ("idle%d" % n, "anon_kb_per_session"), ".1f", "lower")
    row("latency end-of-DATA->250 p50 (ms)", ("lat", "p50"), ".2f", "lower")
    row("latency end-of-DATA->250 p99 (ms)", ("lat", "p99"), ".2f", "lower")

    # peak PSS is in kB: show MB
    for i, r in enumerate(rows):
        if r[0].startswith("peak memory"):
            pv, xv = get(P, "tput", "peak_pss_kb"), get(X, "tput", "peak_pss_kb") if X else None
            rows[i] = (r[0], fmt(pv / 1024 if pv else None, ".1f"),
                       fmt(xv / 1024 if xv else None, ".1f"), r[3], r[4], r[5], r[6])

    hdr = ("metric", "petrel", "postfix", "petrel/pf", "better", "target", "")
    w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
    out = []
    out.append("petrel benchmark  %s" % env["date"])
    out.append("machine: %s cores, kernel %s, %s; load average %s at start, %s after "
               "the throughput and latency rounds" % (
                   env["cores"], env["kernel"], env["fs"], env["load0"], env["load1"]))
    out.append("petrel: %s   postfix: %s" % (env["petrel"], env["postfix"]))
    out.append("throughput and latency: median of %d rounds alternating between the servers"
               % a.rounds)
    out.append("")
    line = lambda r: "  ".join(str(r[i]).ljust(w[i]) if i == 0 else str(r[i]).rjust(w[i])
                               for i in range(len(hdr))).rstrip()
    out.append(line(hdr))
    out.append("  ".join("-" * x for x in w))
    for r in rows:
        out.append(line(r))
    out.append("")
    for name, res in (("petrel", P), ("postfix", X)):
        if res is None:
            continue
        if "error" in res:
            out.append("%s: ERROR: %s" % (name, res["error"]))
        for key, label in (("tput", "throughput"), ("tput_d", "throughput -d")):
            t = res.get(key)
            if not t:
                continue
            by = sorted(t["cpu_by_process"].items(), key=lambda kv: -kv[1])
            out.append("%s %s: %.2fs accepting, %.2fs until delivered, CPU %.2fs (%.0f%% "
                       "system) = %s" % (
                name, label, t["accept_s"], t["deliver_s"], t["cpu_s"],
                100.0 * t["cpu_sys_s"] / t["cpu_s"] if t["cpu_s"] else 0,
                ", ".join("%s %.2f" % kv for kv in by)))
            out.append("    accepted msg/s in each round: %s; peak: sum PSS %.1f MB, sum RSS "
                       "%.1f MB, %d processes; sum VmHWM at end %.1f MB" % (
                           ", ".join("%.0f" % x for x in t.get("rounds", [])),
                           t["peak_pss_kb"] / 1024, t["peak_rss_kb"] / 1024,
                           t["peak_nproc"], t["hwm_sum_kb"] / 1024))
        for n in a.idle:
            r = res.get("idle%d" % n)
            if r:
                out.append("%s idle x%d: %d open (%d failed %s) in %.1fs; PSS %.1f -> %.1f MB, "
                           "anon+PTE %.1f -> %.1f MB, RSS %.1f -> %.1f MB (%.1f KB/session), "
                           "%d -> %d processes; server CPU to open: %.3f ms/session" % (
                               name, n, r["ok"], r["failed"], r["errors"], r["open_s"],
                               r["base"]["pss"] / 1024, r["loaded"]["pss"] / 1024,
                               r["base"]["anon"] / 1024, r["loaded"]["anon"] / 1024,
                               r["base"]["rss"] / 1024, r["loaded"]["rss"] / 1024,
                               r["rss_kb_per_session"],
                               r["base"]["nproc"], r["loaded"]["nproc"],
                               r["open_cpu_ms_per_session"]))
        if res.get("lat"):
            l = res["lat"]
            out.append("%s latency (%d msgs, median of rounds): min %.2f p50 %.2f p90 %.2f "
                       "p99 %.2f max %.2f mean %.2f ms; p50 in each round: %s" % (
                           name, l["count"], l["min"], l["p50"], l["p90"], l["p99"],
                           l["max"], l["mean"], ", ".join("%.2f" % x for x in l["rounds"])))
    if X is None:
        out.append("postfix: not measured (%s)" % env["postfix"])
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--petrel", required=True, help="the petrel binary")
    ap.add_argument("--tmp", required=True, help="scratch directory (mode 0755)")
    ap.add_argument("--out", help="also write the table here")
    ap.add_argument("--json", help="write every figure here as JSON")
    ap.add_argument("--messages", type=int, default=5000, help="per throughput run")
    ap.add_argument("--sessions", type=int, default=20, help="concurrent smtp-source sessions")
    ap.add_argument("--size", type=int, default=4096, help="message body bytes")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3,
                    help="throughput and latency rounds (median reported)")
    ap.add_argument("--latency-count", type=int, default=500,
                    help="messages in the latency session")
    ap.add_argument("--idle", default="1000,5000", help="idle session counts, comma-separated")
    ap.add_argument("--idle-timeout", type=int, default=900)
    ap.add_argument("--deliver-timeout", type=int, default=600)
    ap.add_argument("--no-persistent", dest="persistent", action="store_false",
                    help="skip the smtp-source -d runs")
    ap.add_argument("--no-postfix", action="store_true")
    ap.add_argument("--only-postfix", action="store_true")
    a = ap.parse_args()
    a.idle = [int(x) for x in a.idle.split(",") if x.strip()]

    def on_term(signum, frame):
        raise SystemExit("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    env = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cores": os.cpu_count(),
        "kernel": os.uname().release,
        "load0": "%.2f" % os.getloadavg()[0],
    }
    try:
        fs = subprocess.run(["findmnt", "-no", "FSTYPE", "-T", a.tmp],
                            stdout=subprocess.PIPE, timeout=10).stdout.decode().strip()
    except (OSError, subprocess.TimeoutExpired):
        fs = "?"
    env["fs"] = "temp dir on %s" % fs
    try:
        env["petrel"] = subprocess.run([a.petrel, "version"], stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, timeout=10
                                       ).stdout.decode().strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        env["petrel"] = a.petrel
    want_pf = not a.no_postfix
    why = ""
    if want_pf and not shutil.which("postfix"):
        want_pf, why = False, "postfix is not installed (tools/deps.sh bench)"
    if want_pf and os.geteuid() != 0:
        want_pf, why = False, "a private Postfix instance needs root"
    if not shutil.which("smtp-source"):
        sys.exit("bench: smtp-source not found (Debian package postfix; tools/deps.sh bench)")
    if want_pf:
        try:
            env["postfix"] = "Postfix " + subprocess.run(
                ["postconf", "-d", "-h", "mail_version"], stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, timeout=10).stdout.decode().strip()
        except (OSError, subprocess.TimeoutExpired):
            env["postfix"] = "Postfix"
    else:
        env["postfix"] = why or "skipped (--no-postfix)"

    servers = []
    port = pick_port(24025)
    if not a.only_postfix:
        servers.append(Petrel(a.petrel, a.tmp, port))
    if want_pf:
        servers.append(Postfix(a.tmp, pick_port(port + 1)))
    results = run_all(servers, a)
    env["load1"] = LOAD.get("after_rounds", "-")
    text = report(a, results, env)
    sys.stdout.write("\n" + text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"env": env, "results": results}, f, indent=1, default=str)
    bad = [k for k, v in results.items() if "error" in v]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
