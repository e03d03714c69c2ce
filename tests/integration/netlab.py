"""
netlab: the test network for petrel's outbound delivery tests (issue 4:
SMTP client, retries, DSNs; issue 5: DANE and MTA-STS). Everything runs on
loopback addresses of this machine, is started and stopped by the test, and
stops by itself (bounded loops, timeouts, pytest finalizers).

Only the standard library and pytest are used; the external tools are
nsd, ldns-keygen/ldns-signzone/ldns-key2ds (ldnsutils), openssl and, for
PostfixPeer, postfix. unbound-host (Debian package unbound-host) and
dig/delv are used only by the self-tests (test_netlab.py).

Pieces (plain classes, usable from any test module; the fixtures at the end
wrap them):

DnsServer(workdir, keydir=None, addr="127.0.53.1", port=None)
    NSD serving a signed zone `test.` (KSK + ZSK, ECDSA P-256) whose DS is
    the trust anchor file `dns.trust_anchor`. Names go either straight into
    `test.` or into delegated child zones made by
        dns.zone("secure.test")              signed, DS in the parent
        dns.zone("plain.test", "insecure")   unsigned, no DS (provably insecure)
        dns.zone("bad.test", "bogus")        signed, DS in the parent, but the
                                             signatures over A/AAAA/MX/TXT/TLSA/
                                             CNAME are corrupted after signing
        dns.zone("old.test", "expired")      signed with signatures that expired
                                             in the past (also bogus)
    Records:  dns.mx(domain, "mx1.x.test", (20, "mx2.x.test"))
              dns.a(name, "127.0.25.1", ...)   dns.aaaa(name, "::1")
              dns.tlsa(name, "3 1 1 HEX")      dns.txt(name, "v=STSv1; id=1")
              dns.cname(name, target)          dns.add(owner, TYPE, RDATA)
              dns.remove(owner[, TYPE])        dns.reset() (back to bare test.)
    Names may be given with or without the final dot. Each change is
    served at once (zones re-signed, NSD reloaded and polled until it serves
    the new serial); group several changes in `with dns.batch():` to
    reload once. dns.stop() makes the resolver dead; dns.start() again.
    dns.petrel_conf() returns the petrel configuration lines:
        dns-resolver 127.0.53.1@PORT
        dns-trust-anchor /.../ta.ds
        dns-option local-zone "test. transparent"
        dns-option infra-cache-max-rtt 500
    dead_dns_conf() gives the same lines for an address where nothing
    listens (127.0.53.254): every lookup fails (SERVFAIL), the delivery is
    deferred. SilentDns(addr) answers nothing at all (lookups time out).
    dns.query(name, TYPE) -> (rcode, [rdata text...]) asks NSD directly.

SmtpPeer(addr, port, name="peer.test", extensions=None, cert=None, key=None,
         implicit_tls=False, auth=None, require_auth=False, size=10485760,
         idle_timeout=60)
    A scriptable receiving SMTP server (one thread per connection) that
    records every session (`peer.sessions`, Session objects: client, ehlo,
    tls, tls_version, tls_cipher, sni, auth_user, auth_password, auth_ok,
    commands, transactions, quit) and every accepted transaction
    (`peer.messages`, Transaction objects: mail (the whole MAIL line),
    mail_from, mail_params, rcpts (Rcpt: line, address, params, reply),
    data (the message, dot-unstuffed for DATA), raw (the bytes on the wire
    between DATA and the final dot, or the BDAT chunks concatenated),
    chunks (BDAT chunk sizes), reply (the final reply), session).
    Default extensions: PIPELINING SIZE 8BITMIME SMTPUTF8 DSN
    ENHANCEDSTATUSCODES CHUNKING, plus STARTTLS when cert/key are given (not
    after TLS), plus "AUTH PLAIN LOGIN" when auth={"user": "password"} is
    given (only under TLS when a cert is given).
    Replies are scripted with peer.on(STAGE, ACTION), STAGE one of connect
    (the greeting), ehlo, helo, starttls, auth, mail, rcpt, data (the 354),
    dot (the final reply after DATA or the last BDAT), bdat (each non-last
    BDAT chunk), rset, noop, quit. ACTION is a reply string ("450 4.2.0 try
    later"; "\n" separates lines of a multi-line reply), an Act, or a
    callable(session, arg) returning either (None = default behaviour).
    by_address({"a@x.test": "550 5.1.1 no"}, default=None) scripts RCPT.
    Act constructors (module functions):
        close()                   drop the connection, no reply
        reply_close("421 4.3.2 bye")  reply, then close
        endless(limit=10 MiB)     "250-xxx" lines until limit, then close
        long_line(size=1 MiB)     one "250 xxxx...\r\n" line of that size
        garbage(size=64 KiB)      random bytes (no valid reply), then close
        stall()                   never answer (until the client closes or
                                  the peer stops)
        inject(reply, data)       send reply + data in one write (STARTTLS
                                  injection: on("starttls", inject("220 2.0.0
                                  go", b"250 injected\r\n")) then TLS)
    peer.wait_for_messages(n, timeout=20) -> messages; peer.reset()
    forgets sessions and messages; peer.clear_hooks(); peer.stop().
    Many sessions in parallel, several transactions per session, RSET.

smtp_port(addrs) picks one TCP port free on all the given addresses
    (petrel's `remote-port N` applies to every MX, so every peer of a test
    shares it). ADDRS is the pool 127.0.25.1 .. 127.0.25.40.

TestCA(workdir)
    openssl CA (EC P-256). ca.ca_file (PEM to give petrel as
    outbound-ca-file), ca.leaf(["mx1.x.test", ...], expired=False) ->
    (cert_path, key_path), ca.self_signed(names) -> (cert, key) (not
    signed by the CA), TestCA.tlsa(cert, usage=3, selector=1, mtype=1) ->
    "3 1 1 HEX" for dns.tlsa(). A wrong-name certificate is just a leaf
    for other names.

PostfixPeer(workdir, addr, port, domain, users=None, cert=None, key=None)
    A private Postfix 3.7 (own config, queue and data directories under
    workdir; /etc/postfix is only read) whose smtpd listens on addr:port
    only and delivers mail for `domain` (every local part, or only `users`)
    to Maildirs under workdir/mail/DOMAIN/LOCALPART/. Optional STARTTLS with
    the given cert/key. start(), stop() (no daemon left behind),
    wait_for_maildir(n, timeout) -> list of message paths, maillog().

SmtpSink(addr, port): Postfix's smtp-sink (a fast discard server for
    benchmarks): start(), stop(). Same as running
        smtp-sink -c -u nobody 127.0.25.9:PORT 1000

Fixtures (conftest-free: `from netlab import *` or
`pytest_plugins = ["netlab"]` in a test module):
    netlab_dir     session tmp dir (keys cached here)
    netlab_port    one port free on every ADDRS address, per session
    netlab_dns     session DnsServer (reset before each use by `dns`)
    dns            the session DnsServer, reset to a bare test. zone
    test_ca        session TestCA
    smtp_peer      factory: smtp_peer(addr, **opts) -> started SmtpPeer on
                   netlab_port, stopped after the test
    postfix_peer   factory: postfix_peer(addr, domain, **opts) -> started
                   PostfixPeer on netlab_port, stopped after the test

See tests/integration/README.md for an example outbound test.
"""
import base64
import contextlib
import hashlib
import os
import pwd
import random
import re
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time

import pytest

TOOL_TIMEOUT = 30          # seconds for one external tool run
WAIT = 20.0                # default deadline for a condition

DNS_ADDR = "127.0.53.1"
DNS_DEAD_ADDR = "127.0.53.254"
# unbound's infra-cache-max-rtt (ms) for tests: short, so that dead or
# silent servers fail fast, but not below 376 ms (unbound's RTT for a server
# it knows nothing of): below that the forwarder is never "useful" again
# after the first query and every lookup that needs a second query (all
# DNSSEC validation) fails with SERVFAIL.
INFRA_MAX_RTT = 500
ADDRS = ["127.0.25.%d" % i for i in range(1, 41)]

for _d in ("/usr/sbin", "/sbin"):
    if _d not in os.environ.get("PATH", "").split(":"):
        os.environ["PATH"] = os.environ.get("PATH", "") + ":" + _d


class NetlabError(Exception):
    pass


def run(cmd, cwd=None, timeout=TOOL_TIMEOUT, input=None):
    """Runs cmd, returns its stdout (str); raises NetlabError on failure."""
    try:
        r = subprocess.run(cmd, cwd=cwd, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise NetlabError("%s: timed out after %d s" % (cmd[0], timeout))
    if r.returncode != 0:
        raise NetlabError("%s failed (%d): %s" % (
            " ".join(cmd), r.returncode,
            (r.stderr or r.stdout).decode("utf-8", "replace").strip()))
    return r.stdout.decode("utf-8", "replace")


def wait_for(cond, timeout=WAIT, interval=0.02, what="condition"):
    """Polls cond() until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise NetlabError("timed out after %.1f s waiting for %s" %
                              (timeout, what))
        time.sleep(interval)


def fqdn(name):
    name = name.lower()
    return name if name.endswith(".") else name + "."


def _bindable(addr, port, kinds=(socket.SOCK_STREAM,)):
    socks = []
    try:
        for k in kinds:
            s = socket.socket(socket.AF_INET, k)
            socks.append(s)
            if k == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def free_port(addrs, kinds=(socket.SOCK_STREAM,), tries=200):
    """A port that binds on every address in addrs for each socket kind."""
    for _ in range(tries):
        s = socket.socket(socket.AF_INET, kinds[0])
        try:
            s.bind((addrs[0], 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if all(_bindable(a, port, kinds) for a in addrs):
            return port
    raise NetlabError("no port free on all of %s" % ", ".join(addrs))


def smtp_port(addrs=None):
    """One TCP port free on all of addrs (default: the ADDRS pool)."""
    return free_port(list(addrs or ADDRS))


def _stop_popen(proc, sig=signal.SIGTERM, timeout=10):
    """Stops proc and its process group (it runs in its own session)."""
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


# --------------------------------------------------------------------------
# TestCA
# --------------------------------------------------------------------------

class TestCA:
    """A private CA made with the openssl command line tool."""

    __test__ = False       # not a pytest test class

    def __init__(self, workdir, name="netlab test CA"):
        self.dir = os.path.join(workdir, "ca")
        os.makedirs(self.dir, exist_ok=True)
        self.ca_key = os.path.join(self.dir, "ca.key")
        self.ca_file = os.path.join(self.dir, "ca.pem")
        self._n = 0
        self._lock = threading.Lock()
        if not os.path.exists(self.ca_file):
            self._genkey(self.ca_key)
            run(["openssl", "req", "-new", "-x509", "-key", self.ca_key,
                 "-out", self.ca_file, "-days", "3650", "-subj",
                 "/CN=%s" % name, "-addext",
                 "basicConstraints=critical,CA:TRUE", "-addext",
                 "keyUsage=critical,keyCertSign,cRLSign"])
        with open(os.path.join(self.dir, "index.txt"), "a"):
            pass
        cnf = os.path.join(self.dir, "ca.cnf")
        with open(cnf, "w") as f:
            f.write("""\
[ca]
default_ca = netlab
[netlab]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}
certificate = {c}
private_key = {k}
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
rand_serial = yes
[anything]
commonName = supplied
""".format(d=self.dir, c=self.ca_file, k=self.ca_key))
        self.cnf = cnf

    @staticmethod
    def _genkey(path):
        run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-out", path])
        os.chmod(path, 0o644)   # readable by unprivileged peers (tests only)

    def _paths(self, names, tag):
        with self._lock:
            self._n += 1
            n = self._n
        base = os.path.join(self.dir, "%s-%d-%s" % (
            tag, n, re.sub(r"[^a-z0-9.-]", "_", names[0].lower())[:40]))
        return base + ".pem", base + ".key", base

    @staticmethod
    def _ext(names, path):
        with open(path, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=%s\n" % ",".join(
                        "IP:" + n if re.match(r"^[0-9.]+$|:", n) else
                        "DNS:" + n for n in names))

    def leaf(self, names, expired=False, days=825):
        """A certificate for names (the first is also the CN), signed by
        the CA; expired=True: valid 2020-01-01 .. 2020-01-02."""
        if isinstance(names, str):
            names = [names]
        cert, key, base = self._paths(names, "expired" if expired else "leaf")
        self._genkey(key)
        csr, ext = base + ".csr", base + ".ext"
        run(["openssl", "req", "-new", "-key", key, "-out", csr, "-subj",
             "/CN=%s" % names[0]])
        self._ext(names, ext)
        dates = (["-startdate", "20200101000000Z", "-enddate",
                  "20200102000000Z"] if expired else ["-days", str(days)])
        run(["openssl", "ca", "-batch", "-notext", "-config", self.cnf,
             "-in", csr, "-out", cert, "-extfile", ext] + dates)
        return cert, key

    def self_signed(self, names, days=825):
        """A self-signed certificate for names (not trusted by ca_file)."""
        if isinstance(names, str):
            names = [names]
        cert, key, base = self._paths(names, "self")
        self._genkey(key)
        ext = base + ".ext"
        self._ext(names, ext)
        run(["openssl", "req", "-new", "-x509", "-key", key, "-out", cert,
             "-days", str(days), "-subj", "/CN=%s" % names[0],
             "-addext", "subjectAltName=" + ",".join(
                 "DNS:" + n for n in names)])
        return cert, key

    @staticmethod
    def tlsa(cert, usage=3, selector=1, mtype=1):
        """TLSA rdata "U S M HEX" for cert (a PEM file): selector 0 = full
        certificate, 1 = SubjectPublicKeyInfo; mtype 0 = exact, 1 = SHA-256,
        2 = SHA-512."""
        with open(cert) as f:
            pem = f.read()
        der = ssl.PEM_cert_to_DER_cert(pem)
        if selector == 1:
            p = subprocess.run(["openssl", "x509", "-noout", "-pubkey"],
                               input=pem.encode(), stdout=subprocess.PIPE,
                               check=True, timeout=TOOL_TIMEOUT)
            p = subprocess.run(["openssl", "pkey", "-pubin", "-outform",
                                "DER"], input=p.stdout,
                               stdout=subprocess.PIPE, check=True,
                               timeout=TOOL_TIMEOUT)
            der = p.stdout
        if mtype == 1:
            h = hashlib.sha256(der).hexdigest()
        elif mtype == 2:
            h = hashlib.sha512(der).hexdigest()
        else:
            h = der.hex()
        return "%d %d %d %s" % (usage, selector, mtype, h)


# --------------------------------------------------------------------------
# DNS: a tiny stub client (to poll NSD), NSD, a silent server
# --------------------------------------------------------------------------

QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16,
          "AAAA": 28, "DS": 43, "RRSIG": 46, "DNSKEY": 48, "TLSA": 52}


def _dns_name(data, off):
    """(name, offset after it) at off, following compression pointers."""
    labels, end, jumps = [], None, 0
    while True:
        n = data[off]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | data[off + 1]
            jumps += 1
            if jumps > 50:
                raise ValueError("compression loop")
            continue
        off += 1
        if n == 0:
            break
        labels.append(data[off:off + n].decode("ascii", "replace"))
        off += n
    return ".".join(labels) + ".", (end if end is not None else off)


def dns_query(addr, port, name, qtype="A", timeout=2.0, tcp=False,
              dnssec=False):
    """Asks addr@port for name/qtype (RD=0). Returns (rcode, answers) where
    answers are (type, rdata-text) for A, AAAA, MX, CNAME, NS, TXT, SOA
    (the serial) and (type, raw bytes) for the others. Raises OSError or
    socket.timeout."""
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 1 if dnssec else 0)
    for label in fqdn(name).rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode("ascii")
    q += b"\0" + struct.pack(">HH", QTYPES[qtype], 1)
    if dnssec:
        q += b"\0" + struct.pack(">HHIH", 41, 1232, 0x8000, 0)
    if tcp:
        with socket.create_connection((addr, port), timeout=timeout) as s:
            s.sendall(struct.pack(">H", len(q)) + q)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack(
                    ">H", data[:2])[0]:
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("connection closed")
                data += chunk
            data = data[2:]
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(q, (addr, port))
            while True:
                data = s.recv(65536)
                if data[:2] == q[:2]:
                    break
    rcode = data[3] & 0x0F
    an = struct.unpack(">H", data[6:8])[0]
    off = 12
    _, off = _dns_name(data, off)
    off += 4
    answers = []
    for _ in range(an):
        _, off = _dns_name(data, off)
        t, _c, _ttl, rdlen = struct.unpack(">HHIH", data[off:off + 10])
        off += 10
        rd = data[off:off + rdlen]
        if t == 1:
            v = socket.inet_ntop(socket.AF_INET, rd)
        elif t == 28:
            v = socket.inet_ntop(socket.AF_INET6, rd)
        elif t == 15:
            v = "%d %s" % (struct.unpack(">H", rd[:2])[0],
                           _dns_name(data, off + 2)[0])
        elif t in (2, 5):
            v = _dns_name(data, off)[0]
        elif t == 6:
            _, o = _dns_name(data, off)
            _, o = _dns_name(data, o)
            v = str(struct.unpack(">I", data[o:o + 4])[0])
        elif t == 16:
            parts, i = [], 0
            while i < len(rd):
                parts.append(rd[i + 1:i + 1 + rd[i]].decode("utf-8",
                                                            "replace"))
                i += 1 + rd[i]
            v = "".join(parts)
        else:
            v = rd
        answers.append((t, v))
        off += rdlen
    return rcode, answers


class Zone:
    """One zone NSD serves. mode: parent (test.), secure, insecure, bogus,
    expired."""

    def __init__(self, name, mode):
        self.name = fqdn(name)
        self.mode = mode
        self.records = []            # (owner fqdn, ttl, TYPE, rdata)
        self.keys = []               # ldns key base names (KSK first)
        self.ds = []                 # DS lines of the KSK (signed zones)
        self.file = None             # the zone file NSD loads

    @property
    def signed(self):
        return self.mode != "insecure"


class DnsServer:
    """NSD on addr@port serving test. and its child zones (see module
    docstring)."""

    MODES = ("secure", "insecure", "bogus", "expired")

    def __init__(self, workdir, keydir=None, addr=DNS_ADDR, port=None):
        self.dir = os.path.join(workdir, "nsd")
        self.keydir = keydir or os.path.join(workdir, "dnskeys")
        self.zonedir = os.path.join(self.dir, "zones")
        for d in (self.dir, self.keydir, self.zonedir):
            os.makedirs(d, exist_ok=True)
        self.addr = addr
        self.port = port or free_port([addr], (socket.SOCK_DGRAM,
                                               socket.SOCK_STREAM))
        self.conf = os.path.join(self.dir, "nsd.conf")
        self.log = os.path.join(self.dir, "nsd.log")
        self.trust_anchor = os.path.join(self.dir, "ta.ds")
        self.proc = None
        self.serial = int(time.time())
        self._batch = 0
        self._loaded_zones = None
        self._lock = threading.RLock()
        self.reset(apply=False)

    # ---- zone content ----------------------------------------------------

    def reset(self, apply=True):
        """Back to a bare test. zone (ns.test only), no child zones."""
        with self._lock:
            self.zones = {"test.": Zone("test.", "parent")}
            self.zones["test."].records.append(("ns.test.", 300, "A",
                                                self.addr))
            self._dirty = True
            if apply:
                self.apply()

    def zone(self, name, mode="secure"):
        """Adds the delegated child zone name (a name under test.)."""
        if mode not in self.MODES:
            raise ValueError("mode must be one of %s" % (self.MODES,))
        name = fqdn(name)
        if not name.endswith(".test.") or name in self.zones:
            raise ValueError("%s: not a new name under test." % name)
        with self._lock:
            self.zones[name] = Zone(name, mode)
            self._changed()
        return name

    def zone_of(self, owner):
        owner = fqdn(owner)
        best = None
        for z in self.zones:
            if (owner == z or owner.endswith("." + z)) and (
                    best is None or len(z) > len(best)):
                best = z
        if best is None:
            raise ValueError("%s is not under test." % owner)
        return self.zones[best]

    def add(self, owner, rtype, rdata, ttl=300):
        with self._lock:
            self.zone_of(owner).records.append((fqdn(owner), ttl,
                                                rtype.upper(), rdata))
            self._changed()

    def remove(self, owner, rtype=None):
        owner = fqdn(owner)
        with self._lock:
            z = self.zone_of(owner)
            z.records = [r for r in z.records if not (
                r[0] == owner and (rtype is None or r[2] == rtype.upper()))]
            self._changed()

    def mx(self, domain, *hosts):
        """hosts: "mx.x.test" (preference 10) or (pref, "mx.x.test");
        "." alone makes a null MX (RFC 7505)."""
        with self.batch():
            for h in hosts:
                pref, h = (h if isinstance(h, tuple) else (10, h))
                self.add(domain, "MX", "%d %s" % (
                    pref, "." if h == "." else fqdn(h)))

    def a(self, name, *addrs):
        with self.batch():
            for a in addrs:
                self.add(name, "A", a)

    def aaaa(self, name, *addrs):
        with self.batch():
            for a in addrs:
                self.add(name, "AAAA", a)

    def tlsa(self, name, *rdatas):
        """name like "_25._tcp.mx.x.test"; rdata "3 1 1 HEX"."""
        with self.batch():
            for r in rdatas:
                self.add(name, "TLSA", r)

    def txt(self, name, text):
        chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
        self.add(name, "TXT", " ".join(
            '"%s"' % c.replace("\\", "\\\\").replace('"', '\\"')
            for c in chunks))

    def cname(self, name, target):
        self.add(name, "CNAME", fqdn(target))

    @contextlib.contextmanager
    def batch(self):
        """Changes inside are applied once, at the end."""
        with self._lock:
            self._batch += 1
            try:
                yield self
            finally:
                self._batch -= 1
            if self._batch == 0 and self._dirty:
                self.apply()

    def _changed(self):
        self._dirty = True
        if self._batch == 0:
            self.apply()

    # ---- signing ---------------------------------------------------------

    def _keys(self, zone):
        """KSK and ZSK for zone, generated once per key directory."""
        safe = zone.name.rstrip(".") or "root"
        kdir = os.path.join(self.keydir, safe)
        done = os.path.join(kdir, "keys")
        if not os.path.exists(done):
            shutil.rmtree(kdir, ignore_errors=True)
            os.makedirs(kdir)
            ksk = run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k",
                       zone.name], cwd=kdir).strip()
            zsk = run(["ldns-keygen", "-a", "ECDSAP256SHA256", zone.name],
                      cwd=kdir).strip()
            run(["ldns-key2ds", "-2", ksk + ".key"], cwd=kdir)
            with open(done, "w") as f:
                f.write("%s\n%s\n" % (ksk, zsk))
        with open(done) as f:
            ksk, zsk = f.read().split()
        with open(os.path.join(kdir, ksk + ".ds")) as f:
            ds = [ln.strip() for ln in f if ln.strip()]
        return [os.path.join(kdir, ksk), os.path.join(kdir, zsk)], ds

    def _zone_text(self, z):
        out = ["$ORIGIN %s" % z.name, "$TTL 300",
               "@ 300 IN SOA ns.test. hostmaster.test. %d 3600 600 86400 "
               "300" % self.serial, "@ 300 IN NS ns.test."]
        for owner, ttl, t, rdata in z.records:
            out.append("%s %d IN %s %s" % (owner, ttl, t, rdata))
        if z.mode == "parent":
            for child in sorted(self.zones.values(), key=lambda c: c.name):
                if child is z:
                    continue
                out.append("%s 300 IN NS ns.test." % child.name)
                for ds in child.ds:
                    f = ds.split()
                    out.append("%s 300 IN DS %s" % (child.name,
                                                    " ".join(f[-4:])))
        return "\n".join(out) + "\n"

    def _write_zone(self, z):
        base = os.path.join(self.zonedir, z.name.rstrip(".") + ".zone")
        with open(base, "w") as f:
            f.write(self._zone_text(z))
        if not z.signed:
            z.file = base
            return
        args = ["ldns-signzone", "-o", z.name, "-f", base + ".signed"]
        if z.mode == "expired":
            args += ["-i", "20200101000000", "-e", "20200201000000"]
        else:
            now = int(time.time())
            args += ["-i", str(now - 86400), "-e", str(now + 30 * 86400)]
        run(args + [base] + z.keys)
        z.file = base + ".signed"
        if z.mode == "bogus":
            self._corrupt(z.file)

    @staticmethod
    def _corrupt(path):
        """Flips bits in the RRSIGs over the data records (so the DNSKEY
        set still validates against the DS and only the data is bogus)."""
        out = []
        with open(path) as f:
            for ln in f:
                fl = ln.split()
                if len(fl) > 12 and fl[3] == "RRSIG" and fl[4] in (
                        "A", "AAAA", "MX", "TXT", "TLSA", "CNAME"):
                    sig = bytearray(base64.b64decode("".join(fl[12:])))
                    sig[len(sig) // 2] ^= 0x5A
                    ln = "\t".join(fl[:12] + [
                        base64.b64encode(bytes(sig)).decode()]) + "\n"
                out.append(ln)
        with open(path, "w") as f:
            f.writelines(out)

    def apply(self):
        """Writes and signs every zone and makes NSD serve them."""
        with self._lock:
            self._dirty = False
            self.serial += 1
            for z in self.zones.values():
                if z.signed and not z.keys:
                    z.keys, z.ds = self._keys(z)
            for z in self.zones.values():
                if z.mode != "parent":
                    self._write_zone(z)
            self._write_zone(self.zones["test."])
            with open(self.trust_anchor, "w") as f:
                f.write("\n".join(self.zones["test."].ds) + "\n")
            self._write_conf()
            if self.proc is None or self.proc.poll() is not None:
                return
            if set(self.zones) != self._loaded_zones:
                self._restart()
                return
            self.proc.send_signal(signal.SIGHUP)
            try:
                self._wait_serial(5.0)
            except NetlabError:
                self._restart()    # mtime not seen as changed: reload all

    # ---- the NSD process -------------------------------------------------

    def _write_conf(self):
        d = self.dir
        lines = ["server:",
                 "  ip-address: %s" % self.addr,
                 "  port: %d" % self.port,
                 "  do-ip6: no",
                 "  server-count: 1",
                 "  reuseport: no",
                 "  username: \"\"",
                 "  chroot: \"\"",
                 "  zonesdir: \"%s\"" % self.zonedir,
                 "  database: \"\"",
                 "  pidfile: \"%s/nsd.pid\"" % d,
                 "  xfrdfile: \"%s/xfrd.state\"" % d,
                 "  zonelistfile: \"%s/zone.list\"" % d,
                 "  xfrdir: \"%s\"" % d,
                 "  logfile: \"%s\"" % self.log,
                 "  verbosity: 1",
                 "  hide-version: yes",
                 "  zonefiles-check: yes",
                 "  zonefiles-write: 0",
                 "remote-control:",
                 "  control-enable: no"]
        for z in sorted(self.zones.values(), key=lambda z: z.name):
            lines += ["zone:", "  name: \"%s\"" % z.name,
                      "  zonefile: \"%s\"" % z.file]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _wait_serial(self, timeout):
        want = str(self.serial)

        def served():
            for name in self.zones:
                try:
                    rc, ans = dns_query(self.addr, self.port, name, "SOA",
                                        timeout=0.5)
                except OSError:
                    return False
                if rc != 0 or (6, want) not in ans:
                    return False
            return True
        wait_for(served, timeout, what="NSD to serve serial %s" % want)

    def start(self):
        """Starts NSD and waits until it serves the current zones."""
        with self._lock:
            if self.proc is not None and self.proc.poll() is None:
                return self
            if self._dirty or not os.path.exists(self.trust_anchor):
                self.apply()
            run(["nsd-checkconf", self.conf])
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.dir, "zone.list"))
            logf = open(self.log, "ab")
            self.proc = subprocess.Popen(
                ["nsd", "-d", "-c", self.conf], stdin=subprocess.DEVNULL,
                stdout=logf, stderr=subprocess.STDOUT,
                start_new_session=True)
            logf.close()
            try:
                self._wait_serial(10.0)
            except NetlabError:
                self.stop()
                raise NetlabError("nsd did not start: %s" % self.log_tail())
            self._loaded_zones = set(self.zones)
            return self

    def stop(self):
        """Stops NSD (the resolver becomes dead until start())."""
        with self._lock:
            _stop_popen(self.proc)
            self.proc = None

    def _restart(self):
        self.stop()
        self.start()

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=3000):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def query(self, name, qtype="A", tcp=False):
        return dns_query(self.addr, self.port, name, qtype, tcp=tcp)

    # ---- configuration for petrel and for validators ---------------------

    @property
    def resolver(self):
        return "%s@%d" % (self.addr, self.port)

    def petrel_conf(self, addr=None):
        """petrel configuration lines that make its resolver forward to
        this server and validate with the test. trust anchor."""
        return [
            "dns-resolver %s@%d" % (addr or self.addr, self.port),
            "dns-trust-anchor %s" % self.trust_anchor,
            'dns-option local-zone "test. transparent"',
            "dns-option infra-cache-max-rtt %d" % INFRA_MAX_RTT,
        ]

    def dead_dns_conf(self):
        """The same lines, for an address where nothing listens."""
        return self.petrel_conf(addr=DNS_DEAD_ADDR)

    def unbound_conf(self, path=None, addr=None):
        """An unbound.conf equivalent to petrel_conf() (for unbound-host
        -C); returns its path."""
        path = path or os.path.join(self.dir, "unbound.conf")
        with open(path, "w") as f:
            f.write("""\
server:
  trust-anchor-file: "{ta}"
  local-zone: "test." transparent
  infra-cache-max-rtt: {rtt}
forward-zone:
  name: "."
  forward-addr: {a}@{p}
""".format(ta=self.trust_anchor, rtt=INFRA_MAX_RTT, a=addr or self.addr, p=self.port))
        return path


class SilentDns:
    """A DNS "server" on addr@port (UDP and TCP) that reads queries and
    never answers: lookups through it time out."""

    def __init__(self, addr="127.0.53.253", port=None):
        self.addr = addr
        self.port = port or free_port([addr], (socket.SOCK_DGRAM,
                                               socket.SOCK_STREAM))
        self.queries = 0
        self._stop = threading.Event()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((addr, self.port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((addr, self.port))
        self.tcp.listen(16)
        self._conns = []
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self.udp, self.tcp] + self._conns, [],
                                    [], 0.2)
            for s in r:
                try:
                    if s is self.udp:
                        s.recv(65536)
                        self.queries += 1
                    elif s is self.tcp:
                        c, _ = s.accept()
                        self._conns.append(c)
                    elif not s.recv(65536):
                        s.close()
                        self._conns.remove(s)
                except OSError:
                    pass

    def petrel_conf(self, trust_anchor):
        return ["dns-resolver %s@%d" % (self.addr, self.port),
                "dns-trust-anchor %s" % trust_anchor,
                'dns-option local-zone "test. transparent"',
                "dns-option infra-cache-max-rtt %d" % INFRA_MAX_RTT]

    def stop(self):
        self._stop.set()
        self._t.join(5)
        for s in [self.udp, self.tcp] + self._conns:
            s.close()
