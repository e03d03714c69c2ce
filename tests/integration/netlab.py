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
        dns.zone("plain.test", "insecure")   unsigned, no DS (provably
                                             insecure)
        dns.zone("bad.test", "bogus")        signed, DS in the parent, but the
                                             signatures over A/AAAA/MX/TXT/
                                             TLSA/CNAME are corrupted after
                                             signing
        dns.zone("old.test", "expired")      signed with signatures that
                                             expired in the past (also bogus)
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
    after TLS, and not while peer.offer_starttls is False: starttls=False
    or set it between messages, with peer.drop_sessions() to close the
    client's cached connection), plus "AUTH PLAIN LOGIN" when
    auth={"user": "password"} is given (only under TLS when a cert is
    given), plus REQUIRETLS with requiretls=True (only after STARTTLS, RFC
    8689 2; the client's MAIL parameter shows in
    Transaction.mail_params["REQUIRETLS"] == None). A cert file holding a
    chain (TestCA.leaf(..., chain=True)) is sent whole.
    Replies are scripted with peer.on(STAGE, ACTION), STAGE one of connect
    (the greeting), ehlo, helo, starttls, auth, mail, rcpt, data (the 354),
    dot (the final reply after DATA or the last BDAT), bdat (each non-last
    BDAT chunk), rset, noop, quit, vrfy, expn, help, unknown, toolong.
    ACTION is a reply string ("450 4.2.0 try later"; "\n" separates the
    lines of a multi-line reply, each written in full: "452-4.3.1 a\n452
    4.3.1 b"), an Act, or a callable(session, arg) returning either (None =
    default behaviour); arg is the command's argument, for "dot" the
    Transaction.
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

StsServer(addr, port=443, cert, key, body="", status=200,
          content_type="text/plain", redirect=None, delay=0, stall=False)
    The HTTPS policy host of MTA-STS (RFC 8461 3.2) for tests: serves
    /.well-known/mta-sts.txt (body, e.g. sts_policy("enforce",
    ["mx1.x.test"], max_age=86400)); every behaviour is an attribute the
    test may change between messages (srv.set(status=500)): status,
    content_type, redirect (a Location URL, 301), delay (slow), stall (no
    answer), stop() (down: connection refused) / start(). srv.requests
    logs each request (StsRequest: time, client, sni, method, path, host,
    status sent); srv.wait_for_requests(n). Addresses: STS_ADDRS
    (127.0.44.x). DNS: dns.mta_sts(domain, addr, id="1") adds the
    `_mta-sts.DOMAIN` TXT "v=STSv1; id=1" and the `mta-sts.DOMAIN` A
    record; dns.tlsrpt(domain, rua="mailto:x@y.test") the
    `_smtp._tls.DOMAIN` TXT "v=TLSRPTv1; rua=...".

StripProxy(addr, port, (upstream_addr, upstream_port), starttls="refuse")
    A STARTTLS-stripping middlebox: rewrites the EHLO reply line
    250-STARTTLS into 250-XXXXXXXA (same length) and answers a STARTTLS
    command itself with 500 ("refuse"), sends XXXXXXXX to the server
    instead ("rewrite") or passes it and then relays blindly ("forward").
    proxy.sessions (ProxySession: stripped, starttls, commands, replies,
    data) and proxy.plaintext_data (the message bytes that crossed in
    plaintext after a 354 or in BDAT chunks).

DANE helpers: dns.dane(host, cert, usage=3, selector=1, mtype=1, port=25)
    adds _25._tcp.HOST TLSA for a certificate (3 1 1 of a leaf; with
    usage=2 and ca.ca_file, 2 1 1 of the CA: or ca.tlsa_ta()).
    dns.break_sig(owner, TYPE) corrupts the RRSIG over one RRset of a
    signed zone after each signing (a bogus TLSA answer while the MX and
    A records stay secure). A TLSA in an insecure zone: dns.zone(name,
    "insecure") then dns.dane(...). A CNAME'd MX host: dns.cname().

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

Fixtures: a test module says `pytest_plugins = ["netlab"]` (and, to keep
pytest's assertion rewriting, `pytest.register_assert_rewrite("netlab")`
before it imports anything from netlab):
    netlab_dir     session tmp dir (keys cached here)
    netlab_port    one port free on every ADDRS address, per session
    netlab_dns     session DnsServer (reset before each use by `dns`)
    dns            the session DnsServer, reset to a bare test. zone
    test_ca        session TestCA
    smtp_peer      factory: smtp_peer(addr, **opts) -> started SmtpPeer on
                   netlab_port, stopped after the test
    postfix_peer   factory: postfix_peer(addr, domain, **opts) -> started
                   PostfixPeer on netlab_port, stopped after the test
    other_ca       session TestCA "netlab forger CA" (not trusted by
                   test_ca.ca_file): forged certificates
    sts_server     factory: sts_server(domain, addr=None, port=443,
                   cert="good"|"wrong"|"self"|(cert, key), **opts) ->
                   started StsServer for mta-sts.DOMAIN
    strip_proxy    factory: strip_proxy(addr, upstream_addr, **opts) ->
                   started StripProxy on netlab_port

See tests/integration/README.md for an example outbound test.
"""
import base64
import contextlib
import errno
import hashlib
import itertools
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
# MTA-STS policy hosts (StsServer, port 443): a range of their own.
STS_ADDRS = ["127.0.44.%d" % i for i in range(1, 21)]

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

def first_pem(path):
    """The first PEM certificate block of the file at path (str)."""
    with open(path) as f:
        m = re.search(r"-----BEGIN CERTIFICATE-----.*?"
                      r"-----END CERTIFICATE-----\n?", f.read(), re.S)
    if not m:
        raise NetlabError("%s: no PEM certificate" % path)
    return m.group(0).rstrip("\n") + "\n"

class TestCA:
    """A private CA made with the openssl command line tool."""

    __test__ = False       # not a pytest test class

    def __init__(self, workdir, name="netlab test CA", subdir="ca"):
        self.name = name
        self.dir = os.path.join(workdir, subdir)
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

    def leaf(self, names, expired=False, days=825, chain=False):
        """A certificate for names (the first is also the CN), signed by
        the CA; expired=True: valid 2020-01-01 .. 2020-01-02; chain=True:
        the returned PEM file holds the leaf followed by the CA
        certificate (what a server sends for DANE-TA, RFC 7671 5.2.2)."""
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
        if chain:
            cert = self.fullchain(cert)
        return cert, key

    def fullchain(self, cert):
        """A new PEM file: the first certificate of cert, then the CA
        certificate; returns its path."""
        out = re.sub(r"\.pem$", "", cert) + "-chain.pem"
        with open(out, "w") as f:
            f.write(first_pem(cert))
            f.write(first_pem(self.ca_file))
        os.chmod(out, 0o644)
        return out

    def tlsa_ta(self, selector=1, mtype=1):
        """DANE-TA TLSA rdata for this CA ("2 1 1 HEX" by default)."""
        return self.tlsa(self.ca_file, 2, selector, mtype)

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
        pem = first_pem(cert)
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
        self.broken = set()          # (owner fqdn, TYPE): RRSIG corrupted

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
        "." alone makes a null MX "0 ." (RFC 7505)."""
        with self.batch():
            for h in hosts:
                pref, h = (h if isinstance(h, tuple) else
                           (0 if h == "." else 10, h))
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

    def txt(self, name, text, ttl=300):
        chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
        self.add(name, "TXT", " ".join(
            '"%s"' % c.replace("\\", "\\\\").replace('"', '\\"')
            for c in chunks), ttl=ttl)

    def cname(self, name, target):
        self.add(name, "CNAME", fqdn(target))

    def dane(self, host, cert=None, usage=3, selector=1, mtype=1, port=25,
             rdata=None):
        """Adds the TLSA record _PORT._tcp.HOST for cert (a PEM file, its
        first certificate: usage 3 = DANE-EE of that leaf, usage 2 with
        the CA file = DANE-TA) or the given rdata; returns the rdata."""
        rdata = rdata or TestCA.tlsa(cert, usage, selector, mtype)
        self.tlsa("_%d._tcp.%s" % (port, host.rstrip(".")), rdata)
        return rdata

    def break_sig(self, owner, rtype):
        """Makes one RRset bogus in a signed zone: after each signing the
        RRSIG over OWNER/TYPE is corrupted, every other record (and the
        DNSKEY/DS chain) stays valid. E.g. a bogus TLSA answer for a host
        whose MX and A records are secure:
            dns.break_sig("_25._tcp.mx1.x.test", "TLSA")"""
        with self._lock:
            z = self.zone_of(owner)
            if not z.signed:
                raise ValueError("%s: not in a signed zone" % owner)
            z.broken.add((fqdn(owner), rtype.upper()))
            self._changed()

    def mta_sts(self, domain, addr, id="1", txt=None, ttl=300):
        """The MTA-STS records of domain (RFC 8461 3.1): the TXT
        `_mta-sts.DOMAIN` "v=STSv1; id=ID" (or txt, verbatim; "" for none)
        and the A record of the policy host `mta-sts.DOMAIN` -> addr
        (None: no A record). Replaces earlier ones. ttl applies to the
        TXT record: a short one (1) lets a resolver see a new id soon."""
        domain = domain.rstrip(".")
        with self.batch():
            if txt is None:
                txt = "v=STSv1; id=%s" % id
            if txt != "":
                self.remove("_mta-sts." + domain, "TXT")
                self.txt("_mta-sts." + domain, txt, ttl=ttl)
            if addr:
                self.remove("mta-sts." + domain, "A")
                self.a("mta-sts." + domain, addr)

    def tlsrpt(self, domain, rua="mailto:tlsrpt@reports.test", txt=None):
        """The TLS-RPT record `_smtp._tls.DOMAIN` (RFC 8460 3):
        "v=TLSRPTv1; rua=RUA" (or txt, verbatim)."""
        domain = domain.rstrip(".")
        self.remove("_smtp._tls." + domain, "TXT")
        self.txt("_smtp._tls." + domain, txt or "v=TLSRPTv1; rua=%s" % rua)

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
        elif z.broken:
            self._corrupt(z.file, z.broken)

    @staticmethod
    def _corrupt(path, only=None):
        """Flips bits in the RRSIGs over the data records (so the DNSKEY
        set still validates against the DS and only the data is bogus);
        only: a set of (owner fqdn, TYPE), the RRsets to break."""
        out = []
        with open(path) as f:
            for ln in f:
                fl = ln.split()
                if len(fl) > 12 and fl[3] == "RRSIG" and (
                        fl[4] in ("A", "AAAA", "MX", "TXT", "TLSA", "CNAME")
                        if only is None else
                        (fl[0].lower(), fl[4]) in only):
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
""".format(ta=self.trust_anchor, rtt=INFRA_MAX_RTT, a=addr or self.addr,
           p=self.port))
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


# --------------------------------------------------------------------------
# SmtpPeer: a scriptable receiving SMTP server
# --------------------------------------------------------------------------

class Act:
    """A scripted action for SmtpPeer.on(); see the constructors below."""

    def __init__(self, kind, reply=None, data=b"", size=0):
        self.kind, self.reply, self.data, self.size = kind, reply, data, size

    def __repr__(self):
        return "Act(%s, %r)" % (self.kind, self.reply)


def close():
    """Drop the connection without a reply."""
    return Act("close")


def reply_close(reply):
    """Send reply, then close (e.g. "421 4.3.2 shutting down")."""
    return Act("reply_close", reply)


def endless(limit=10 * 1024 * 1024):
    """"250-xxx" continuation lines that never end, up to limit bytes; then
    the connection is closed."""
    return Act("endless", size=limit)


def long_line(size=1024 * 1024):
    """One reply line "250 xxx...x\\r\\n" of size bytes; the session goes
    on."""
    return Act("long_line", size=size)


def garbage(size=64 * 1024):
    """size random bytes instead of a reply, then close."""
    return Act("garbage", size=size)


def stall():
    """Never answer: read and discard until the client closes, the peer
    stops or stall_max seconds pass."""
    return Act("stall")


def inject(reply, data):
    """reply followed by data in the same write (for STARTTLS: the bytes
    reach the client before the TLS handshake and must be discarded)."""
    return Act("inject", reply, data=data)


def by_address(table, default=None):
    """A RCPT (or MAIL) hook: the reply for the address in the command,
    looked up case-insensitively in table, else default (None = normal)."""
    low = {k.lower(): v for k, v in table.items()}

    def hook(session, arg):
        m = PATH_RE.match(arg)
        addr = m.group(2).lower() if m else ""
        return low.get(addr, default)
    return hook


PATH_RE = re.compile(r"^(FROM|TO):\s*<([^>]*)>\s*(.*)$", re.I | re.S)


def _params(s):
    out = {}
    for p in s.split():
        k, _, v = p.partition("=")
        out[k.upper()] = v if _ else None
    return out


class Rcpt:
    def __init__(self, line, address, params):
        self.line, self.address, self.params = line, address, params
        self.reply = None

    @property
    def accepted(self):
        return self.reply is not None and self.reply.startswith("2")

    def __repr__(self):
        return "Rcpt(%r, %r)" % (self.address, self.reply)


class Transaction:
    def __init__(self, session, line, mail_from, params):
        self.session = session
        self.mail = line
        self.mail_from = mail_from
        self.mail_params = params
        self.rcpts = []
        self.raw = b""             # DATA: bytes up to the final dot line
        self.data = b""            # the message (dot-unstuffed / BDAT)
        self.bdat = False
        self.chunks = []           # BDAT chunk sizes
        self.reply = None          # final reply after the data

    @property
    def accepted(self):
        return self.reply is not None and self.reply.startswith("2")

    @property
    def recipients(self):
        """Addresses of the accepted recipients."""
        return [r.address for r in self.rcpts if r.accepted]

    def __repr__(self):
        return "Transaction(%r -> %r, %d bytes, %r)" % (
            self.mail_from, [r.address for r in self.rcpts], len(self.data),
            self.reply)


class Session:
    def __init__(self, peer, client):
        self.peer = peer
        self.client = client       # (ip, port) of the client
        self.ehlo = None           # the last EHLO/HELO argument
        self.ehlos = []            # every EHLO/HELO line
        self.tls = False
        self.tls_version = None    # e.g. "TLSv1.3"
        self.tls_cipher = None
        self.tls_error = None
        self.sni = None            # server name the client asked for
        self.starttls_pipelined = b""  # client bytes after STARTTLS
        self.auth_mechanism = None
        self.auth_user = None
        self.auth_password = None
        self.auth_ok = False
        self.commands = []         # every command line (str, no CRLF)
        self.replies = []          # every reply sent (str)
        self.transactions = []
        self.quit = False
        self.ended = threading.Event()
        self.txn = None
        self._sock = None
        self._buf = bytearray()

    def __repr__(self):
        return "Session(%s:%d ehlo=%r tls=%s txns=%d)" % (
            self.client[0], self.client[1], self.ehlo, self.tls_version,
            len(self.transactions))


_queue_ids = itertools.count(1)


class _Closed(Exception):
    pass


class _TcpServer:
    """A listener on addr:port (IPv4 or IPv6) whose accept thread hands
    each connection to self._serve(conn, client) on a thread of its own:
    the common part of SmtpPeer, StsServer and StripProxy. Subclasses set
    addr and port and call _tcp_init() first."""

    backlog = 64

    def _tcp_init(self):
        self._stop = threading.Event()
        self._threads = []
        self._lsock = None
        self._accept_thread = None

    def start(self):
        family = socket.AF_INET6 if ":" in self.addr else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((self.addr, self.port))
        except OSError:
            s.close()
            raise
        s.listen(self.backlog)
        s.settimeout(0.2)
        self._lsock = s
        self._stop.clear()
        self._accept_thread = threading.Thread(
            target=self._accept_loop,
            name="%s-%s" % (type(self).__name__.lower(), self.addr),
            daemon=True)
        self._accept_thread.start()
        return self

    def stop(self):
        """Closes the listener and every connection; joins the threads."""
        self._stop.set()
        if self._accept_thread:
            self._accept_thread.join(5)
            self._accept_thread = None
        if self._lsock:
            self._lsock.close()
            self._lsock = None
        self._shutdown_conns()
        for t in list(self._threads):
            t.join(5)
        self._threads = []

    def _shutdown_conns(self):
        """Ends the connections still open (stop() then joins them)."""

    @property
    def running(self):
        return self._lsock is not None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                c, a = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            t = threading.Thread(target=self._serve, args=(c, a),
                                 daemon=True)
            self._threads = [x for x in self._threads if x.is_alive()]
            self._threads.append(t)
            t.start()


class SmtpPeer(_TcpServer):
    """A receiving SMTP server on addr:port; see the module docstring."""

    DEFAULT_EXTENSIONS = ["PIPELINING", "SIZE {size}", "8BITMIME",
                          "SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES",
                          "CHUNKING"]

    def __init__(self, addr, port, name="peer.test", extensions=None,
                 cert=None, key=None, implicit_tls=False, auth=None,
                 require_auth=False, size=10485760, idle_timeout=60.0,
                 stall_max=300.0, max_data=64 * 1024 * 1024, requiretls=False,
                 starttls=True, start=True):
        self.addr, self.port, self.name = addr, port, name
        self.requiretls = requiretls
        self.offer_starttls = starttls
        self.extensions = list(self.DEFAULT_EXTENSIONS if extensions is None
                               else extensions)
        self.cert, self.key = cert, key
        self.implicit_tls = implicit_tls
        self.auth = dict(auth or {})
        self.require_auth = require_auth
        self.size = size
        self.idle_timeout = idle_timeout
        self.stall_max = stall_max
        self.max_data = max_data
        self.hooks = {}
        self.sessions = []
        self.messages = []
        self._cond = threading.Condition()
        self._tcp_init()
        self.backlog = 128
        self._ctx = None
        if cert:
            self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._ctx.load_cert_chain(cert, key)
            self._ctx.sni_callback = self._sni
        if implicit_tls and not cert:
            raise ValueError("implicit_tls needs cert and key")
        if start:
            self.start()

    # ---- control ---------------------------------------------------------

    def _shutdown_conns(self):
        with self._cond:
            sessions = list(self.sessions)
        for sess in sessions:
            s = sess._sock
            if s is not None:
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(s, socket.SHUT_RDWR)

    def on(self, stage, action):
        """Scripts the reply for stage (see module docstring); None
        removes the hook."""
        if action is None:
            self.hooks.pop(stage, None)
        else:
            self.hooks[stage] = action
        return self

    def clear_hooks(self):
        self.hooks = {}

    def drop_sessions(self):
        """Closes every open session (the listener stays): a client's
        cached connection is gone and its next message opens a new one
        (e.g. after offer_starttls was changed)."""
        with self._cond:
            sessions = list(self.sessions)
        for sess in sessions:
            s = sess._sock
            if s is not None and not sess.ended.is_set():
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(s, socket.SHUT_RDWR)
        for sess in sessions:
            sess.ended.wait(5)

    def reset(self):
        """Forgets the recorded sessions and messages (not the hooks)."""
        with self._cond:
            self.sessions = []
            self.messages = []

    def wait_for_messages(self, n, timeout=WAIT):
        """Waits until n transactions were accepted; returns messages."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= n,
                                       timeout):
                raise AssertionError(
                    "%s:%d: %d of %d messages after %.0f s; sessions: %r" % (
                        self.addr, self.port, len(self.messages), n, timeout,
                        self.sessions))
            return list(self.messages)

    def wait_for_sessions(self, n, timeout=WAIT, ended=True):
        """Waits until n sessions were opened (and, by default, ended)."""
        def ok():
            return len(self.sessions) >= n and (not ended or all(
                s.ended.is_set() for s in self.sessions[:n]))
        with self._cond:
            if not self._cond.wait_for(ok, timeout):
                raise AssertionError("%s:%d: %d sessions, wanted %d" % (
                    self.addr, self.port, len(self.sessions), n))
            return list(self.sessions)

    # ---- plumbing --------------------------------------------------------

    @staticmethod
    def _sni(sslsock, name, ctx):
        with contextlib.suppress(AttributeError):
            sslsock.netlab_sni = name

    def _notify(self):
        with self._cond:
            self._cond.notify_all()

    def _send(self, sess, data):
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        try:
            sess._sock.sendall(data)
        except OSError:
            raise _Closed()

    def _recv(self, sess):
        if self._stop.is_set():
            raise _Closed()
        try:
            d = sess._sock.recv(65536)
        except (OSError, ssl.SSLError):
            raise _Closed()
        if not d:
            raise _Closed()
        sess._buf += d

    def _read_line(self, sess, maxlen=65536):
        """One line including its LF (a longer line is cut at maxlen)."""
        while True:
            i = sess._buf.find(b"\n")
            if i >= 0 or len(sess._buf) >= maxlen:
                n = i + 1 if i >= 0 else maxlen
                line = bytes(sess._buf[:n])
                del sess._buf[:n]
                return line
            self._recv(sess)

    def _read_exact(self, sess, n, keep):
        """Reads n bytes; returns at most keep of them."""
        out = bytearray()
        while n > 0:
            if not sess._buf:
                self._recv(sess)
            k = min(n, len(sess._buf))
            if len(out) < keep:
                out += sess._buf[:min(k, keep - len(out))]
            del sess._buf[:k]
            n -= k
        return bytes(out)

    @staticmethod
    def _format(reply):
        lines = reply.replace("\r\n", "\n").rstrip("\n").split("\n")
        return "".join(ln + "\r\n" for ln in lines)

    def _respond(self, sess, stage, arg, default):
        """Sends the scripted or the default reply for stage; returns the
        reply text (the first line) or raises _Closed."""
        act = self.hooks.get(stage)
        if callable(act) and not isinstance(act, Act):
            act = act(sess, arg)
        if act is None:
            act = default
        if isinstance(act, str):
            text = self._format(act)
            sess.replies.append(text)
            self._send(sess, text)
            return act
        return self._act(sess, act)

    def _act(self, sess, act):
        sess.replies.append(repr(act))
        k = act.kind
        if k == "close":
            raise _Closed()
        if k == "reply_close":
            self._send(sess, self._format(act.reply))
            raise _Closed()
        if k == "inject":
            self._send(sess, self._format(act.reply).encode() + act.data)
            return act.reply
        if k == "long_line":
            self._send(sess, b"250 " + b"x" * max(0, act.size - 6) +
                       b"\r\n")
            return "250 long line"
        if k == "endless":
            chunk = b"250-" + b"x" * 72 + b"\r\n"
            block = chunk * (65536 // len(chunk))
            sent = 0
            while sent < act.size and not self._stop.is_set():
                self._send(sess, block)
                sent += len(block)
            raise _Closed()
        if k == "garbage":
            rnd = random.Random(1)
            self._send(sess, rnd.randbytes(act.size))
            raise _Closed()
        if k == "stall":
            deadline = time.monotonic() + self.stall_max
            sess._sock.settimeout(0.2)
            while time.monotonic() < deadline and not self._stop.is_set():
                try:
                    if not sess._sock.recv(65536):
                        break
                except socket.timeout:
                    continue
                except OSError:
                    break
            raise _Closed()
        raise ValueError("unknown act %r" % k)

    def _start_tls(self, sess):
        raw = sess._sock
        raw.settimeout(min(self.idle_timeout, 30.0))
        try:
            s = self._ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError) as e:
            sess.tls_error = str(e)
            raise _Closed()
        s.settimeout(self.idle_timeout)
        sess._sock = s
        sess.tls = True
        sess.tls_version = s.version()
        sess.tls_cipher = s.cipher()[0] if s.cipher() else None
        sess.sni = getattr(s, "netlab_sni", None)

    def _ehlo_lines(self, sess):
        exts = [e.format(size=self.size) for e in self.extensions]
        names = [e.split()[0].upper() for e in exts]
        if self._ctx and not sess.tls and "STARTTLS" not in names:
            exts.append("STARTTLS")
        if sess.tls or not self.offer_starttls:
            exts = [e for e in exts if e.upper() != "STARTTLS"]
        if self.requiretls and sess.tls and "REQUIRETLS" not in names:
            exts.append("REQUIRETLS")     # RFC 8689 2: only under TLS
        if self.auth and "AUTH" not in names and (sess.tls or not
                                                  self._ctx):
            exts.append("AUTH PLAIN LOGIN")
        lines = [self.name] + exts
        return "\n".join("250%s%s" % ("-" if i < len(lines) - 1 else " ",
                                      ln) for i, ln in enumerate(lines))

    # ---- the SMTP session ------------------------------------------------

    def _serve(self, conn, client):
        sess = Session(self, client)
        sess._sock = conn
        conn.settimeout(self.idle_timeout)
        with self._cond:
            self.sessions.append(sess)
        try:
            if self.implicit_tls:
                self._start_tls(sess)
            self._respond(sess, "connect", None,
                          "220 %s ESMTP netlab" % self.name)
            while not self._stop.is_set():
                line = self._read_line(sess)
                text = line.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
                sess.commands.append(text)
                if not line.endswith(b"\n"):
                    self._respond(sess, "toolong", text,
                                  "500 5.5.2 line too long")
                    continue
                verb, _, arg = text.partition(" ")
                if not self._command(sess, verb.upper(), arg.strip(), text):
                    break
        except _Closed:
            pass
        except Exception as e:      # a bug here must not hang the test
            sess.replies.append("netlab internal error: %r" % e)
        finally:
            with contextlib.suppress(OSError):
                sess._sock.close()
            sess.ended.set()
            self._notify()

    def _command(self, sess, verb, arg, line):
        """Handles one command; False ends the session."""
        if verb in ("EHLO", "HELO"):
            sess.ehlo = arg
            sess.ehlos.append(line)
            sess.txn = None
            if verb == "EHLO":
                self._respond(sess, "ehlo", arg, self._ehlo_lines(sess))
            else:
                self._respond(sess, "helo", arg, "250 %s" % self.name)
        elif verb == "STARTTLS":
            if not self._ctx or sess.tls or not self.offer_starttls:
                self._respond(sess, "starttls", arg,
                              "502 5.5.1 STARTTLS not available")
                return True
            r = self._respond(sess, "starttls", arg,
                              "220 2.0.0 Ready to start TLS")
            if r.startswith("220"):
                sess.starttls_pipelined = bytes(sess._buf)
                sess._buf = bytearray()
                self._start_tls(sess)
                sess.ehlo = None
                sess.txn = None
        elif verb == "AUTH":
            self._auth(sess, arg)
        elif verb == "MAIL":
            self._mail(sess, arg, line)
        elif verb == "RCPT":
            self._rcpt(sess, arg, line)
        elif verb == "DATA":
            self._data(sess, arg)
        elif verb == "BDAT":
            self._bdat(sess, arg)
        elif verb == "RSET":
            sess.txn = None
            self._respond(sess, "rset", arg, "250 2.0.0 Ok")
        elif verb == "NOOP":
            self._respond(sess, "noop", arg, "250 2.0.0 Ok")
        elif verb == "QUIT":
            sess.quit = True
            self._respond(sess, "quit", arg, "221 2.0.0 Bye")
            return False
        elif verb in ("VRFY", "EXPN", "HELP"):
            self._respond(sess, verb.lower(), arg,
                          "502 5.5.1 not implemented")
        else:
            self._respond(sess, "unknown", line,
                          "500 5.5.2 unknown command")
        return True

    def _auth(self, sess, arg):
        mech, _, initial = arg.partition(" ")
        mech = mech.upper()
        if not self.auth or (self._ctx and not sess.tls):
            self._respond(sess, "auth", arg, "503 5.5.1 AUTH not available")
            return
        if sess.auth_ok:
            self._respond(sess, "auth", arg, "503 5.5.1 already authenticated")
            return

        def ask(prompt):
            self._send(sess, "334 %s\r\n" % prompt)
            ln = self._read_line(sess).rstrip(b"\r\n").decode("ascii",
                                                              "replace")
            sess.commands.append(ln)
            if ln == "*":
                return None
            return base64.b64decode(ln, validate=False)
        try:
            if mech == "PLAIN":
                raw = (base64.b64decode(initial) if initial and initial != "="
                       else ask(""))
                if raw is None:
                    self._send(sess, "501 5.7.0 cancelled\r\n")
                    return
                _, user, pw = raw.split(b"\0", 2)
            elif mech == "LOGIN":
                user = (base64.b64decode(initial) if initial else
                        ask("VXNlcm5hbWU6"))
                pw = None if user is None else ask("UGFzc3dvcmQ6")
                if pw is None:
                    self._send(sess, "501 5.7.0 cancelled\r\n")
                    return
            else:
                self._respond(sess, "auth", arg,
                              "504 5.5.4 mechanism not supported")
                return
        except (ValueError, base64.binascii.Error):
            self._respond(sess, "auth", arg, "501 5.5.2 bad base64")
            return
        sess.auth_mechanism = mech
        sess.auth_user = user.decode("utf-8", "replace")
        sess.auth_password = pw.decode("utf-8", "replace")
        ok = self.auth.get(sess.auth_user) == sess.auth_password
        r = self._respond(sess, "auth", arg,
                          "235 2.7.0 Authentication successful" if ok else
                          "535 5.7.8 Authentication credentials invalid")
        sess.auth_ok = r.startswith("235")

    def _mail(self, sess, arg, line):
        m = PATH_RE.match(arg)
        if sess.ehlo is None:
            self._respond(sess, "mail", arg, "503 5.5.1 EHLO first")
            return
        if sess.txn is not None:
            self._respond(sess, "mail", arg, "503 5.5.1 nested MAIL")
            return
        if not m or m.group(1).upper() != "FROM":
            self._respond(sess, "mail", arg, "501 5.5.4 syntax: MAIL FROM:<>")
            return
        params = _params(m.group(3))
        default = "250 2.1.0 Ok"
        if self.require_auth and not sess.auth_ok:
            default = "530 5.7.0 authentication required"
        elif params.get("SIZE") and params["SIZE"].isdigit() and \
                int(params["SIZE"]) > self.size:
            default = "552 5.3.4 message too big"
        txn = Transaction(sess, line, m.group(2), params)
        r = self._respond(sess, "mail", arg, default)
        txn.reply = None
        if r.startswith("2"):
            sess.txn = txn
            sess.transactions.append(txn)

    def _rcpt(self, sess, arg, line):
        m = PATH_RE.match(arg)
        if sess.txn is None:
            self._respond(sess, "rcpt", arg, "503 5.5.1 MAIL first")
            return
        if not m or m.group(1).upper() != "TO":
            self._respond(sess, "rcpt", arg, "501 5.5.4 syntax: RCPT TO:<>")
            return
        rc = Rcpt(line, m.group(2), _params(m.group(3)))
        sess.txn.rcpts.append(rc)
        rc.reply = self._respond(sess, "rcpt", arg, "250 2.1.5 Ok")

    def _finish(self, sess, txn):
        """The final reply for a transaction whose data was read."""
        if txn is None:
            return
        txn.reply = self._respond(sess, "dot", txn,
                                  "250 2.0.0 Ok: queued as N%d" %
                                  next(_queue_ids))
        sess.txn = None
        if txn.accepted:
            with self._cond:
                self.messages.append(txn)
                self._cond.notify_all()

    def _data(self, sess, arg):
        txn = sess.txn
        if txn is None:
            self._respond(sess, "data", arg, "503 5.5.1 MAIL first")
            return
        if not txn.recipients:
            self._respond(sess, "data", arg, "554 5.5.1 no valid recipients")
            return
        if txn.bdat:
            self._respond(sess, "data", arg, "503 5.5.1 BDAT in progress")
            return
        r = self._respond(sess, "data", arg,
                          "354 End data with <CR><LF>.<CR><LF>")
        if not r.startswith("354"):
            return
        raw, data, total = bytearray(), bytearray(), 0
        while True:
            ln = self._read_line(sess, maxlen=1 << 20)
            if ln == b".\r\n":
                break
            total += len(ln)
            if total <= self.max_data:
                raw += ln
                data += ln[1:] if ln.startswith(b".") else ln
        txn.raw, txn.data = bytes(raw), bytes(data)
        self._finish(sess, txn)

    def _bdat(self, sess, arg):
        f = arg.split()
        if not f or not f[0].isdigit() or len(f) > 2 or (
                len(f) == 2 and f[1].upper() != "LAST"):
            self._respond(sess, "bdat", arg, "501 5.5.4 syntax: BDAT n [LAST]")
            return
        n, last = int(f[0]), len(f) == 2
        txn = sess.txn
        chunk = self._read_exact(sess, n, self.max_data)
        if txn is None or not txn.recipients:
            self._respond(sess, "bdat", arg, "503 5.5.1 no valid recipients"
                          if txn else "503 5.5.1 MAIL first")
            return
        txn.bdat = True
        txn.chunks.append(n)
        txn.raw += chunk
        txn.data = txn.raw
        if last:
            self._finish(sess, txn)
        else:
            self._respond(sess, "bdat", arg, "250 2.0.0 %d octets received"
                          % n)


# --------------------------------------------------------------------------
# StsServer: the HTTPS policy host of MTA-STS (RFC 8461 3.2)
# --------------------------------------------------------------------------

STS_PATH = "/.well-known/mta-sts.txt"


def sts_policy(mode="enforce", mx=(), max_age=86400, version="STSv1",
               eol="\r\n"):
    """An RFC 8461 3.2 policy text: version, mode, one mx line per
    pattern, max_age; CRLF line ends (eol="\\n" for LF)."""
    if isinstance(mx, str):
        mx = [mx]
    lines = ["version: %s" % version, "mode: %s" % mode]
    lines += ["mx: %s" % m for m in mx]
    lines.append("max_age: %d" % max_age)
    return eol.join(lines) + eol


class StsRequest:
    """One request the policy server saw."""

    def __init__(self, client, sni, method, path, host, headers):
        self.time = time.time()
        self.client = client      # (ip, port)
        self.sni = sni            # TLS server name asked for (or None)
        self.method = method
        self.path = path
        self.host = host          # the Host header (or None)
        self.headers = headers    # {lower-case name: value}
        self.status = None        # the status sent (None: none sent)

    def __repr__(self):
        return "StsRequest(%s %s host=%r sni=%r -> %r)" % (
            self.method, self.path, self.host, self.sni, self.status)


class StsServer(_TcpServer):
    """An HTTPS server on addr:port (default 443: needs root) that serves
    the MTA-STS policy at /.well-known/mta-sts.txt. Behaviour, all
    attributes that a test may change at any time (or pass to the
    constructor / set()):
        body          the policy text (str or bytes); sts_policy() makes one
        status        HTTP status (200)
        content_type  "text/plain" (RFC 8461 3.2); None: no header
        redirect      a URL: answer `status` (default 301 then) with
                      Location: URL and no policy
        delay         seconds to wait before answering (a slow server)
        stall         True: never answer (until the client goes, the
                      server stops or stall_max seconds pass)
        paths         {path: (status, content_type, body)} extra resources
    stop() makes it "down" (connection refused); start() again.
    requests: the StsRequest log (client, sni, method, path, host, time,
    status sent). wait_for_requests(n, timeout).
    cert/key: from TestCA.leaf(["mta-sts.DOMAIN"]) for a valid server, a
    leaf for another name or TestCA.self_signed() for a bad one."""

    def __init__(self, addr, port=443, cert=None, key=None, body="",
                 status=200, content_type="text/plain", redirect=None,
                 delay=0.0, stall=False, stall_max=120.0, start=True):
        if not cert or not key:
            raise ValueError("StsServer needs cert and key")
        self.addr, self.port = addr, port
        self.cert, self.key = cert, key
        self.body, self.status = body, status
        self.content_type, self.redirect = content_type, redirect
        self.delay, self.stall, self.stall_max = delay, stall, stall_max
        self.paths = {}
        self.requests = []
        self._cond = threading.Condition()
        self._tcp_init()
        self._conns = []
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(cert, key)
        self._ctx.sni_callback = SmtpPeer._sni
        if start:
            self.start()

    def set(self, **kw):
        for k, v in kw.items():
            if not hasattr(self, k) or k.startswith("_"):
                raise AttributeError(k)
            setattr(self, k, v)
        return self

    @property
    def url(self):
        return "https://%s:%d%s" % (self.addr, self.port, STS_PATH)

    def _shutdown_conns(self):
        """The server is down: its connections are cut, new ones refused."""
        for c in list(self._conns):
            with contextlib.suppress(OSError):
                socket.socket.shutdown(c, socket.SHUT_RDWR)

    def wait_for_requests(self, n, timeout=WAIT):
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= n,
                                       timeout):
                raise AssertionError("%s:%d: %d of %d policy requests" % (
                    self.addr, self.port, len(self.requests), n))
            return list(self.requests)

    def _serve(self, raw, client):
        raw.settimeout(10)
        self._conns.append(raw)
        s = None
        try:
            try:
                s = self._ctx.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                return      # e.g. the client refused our certificate
            sni = getattr(s, "netlab_sni", None)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                d = s.recv(4096)
                if not d:
                    return
                head += d
            lines = head.split(b"\r\n\r\n", 1)[0].decode(
                "latin-1").split("\r\n")
            f = lines[0].split()
            method, path = (f[0], f[1]) if len(f) >= 2 else ("?", "?")
            headers = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                headers[k.strip().lower()] = v.strip()
            req = StsRequest(client, sni, method, path, headers.get("host"),
                             headers)
            with self._cond:
                self.requests.append(req)
                self._cond.notify_all()
            self._answer(s, req)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(OSError):
                (s or raw).close()
            with contextlib.suppress(ValueError):
                self._conns.remove(raw)

    def _wait(self, secs):
        """Sleeps secs or until stop(); False when stopped."""
        return not self._stop.wait(secs)

    def _answer(self, s, req):
        if self.stall:
            self._wait(self.stall_max)
            return
        if self.delay and not self._wait(self.delay):
            return
        ctype = self.content_type
        extra = []
        if req.path in self.paths:
            status, ctype, body = self.paths[req.path]
        elif req.path.split("?")[0] != STS_PATH:
            status, ctype, body = 404, "text/plain", "not found\n"
        elif self.redirect:
            status = self.status if self.status in (
                301, 302, 303, 307, 308) else 301
            body = "moved\n"
            extra.append("Location: %s" % self.redirect)
        else:
            status, body = self.status, self.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        hdr = ["HTTP/1.1 %d %s" % (status, {
            200: "OK", 301: "Moved Permanently", 302: "Found",
            404: "Not Found", 500: "Internal Server Error"}.get(status,
                                                                "Status")),
            "Content-Length: %d" % len(body), "Connection: close"]
        if ctype:
            hdr.append("Content-Type: %s" % ctype)
        hdr += extra
        req.status = status
        s.sendall(("\r\n".join(hdr) + "\r\n\r\n").encode("latin-1") +
                  (body if req.method != "HEAD" else b""))


# --------------------------------------------------------------------------
# StripProxy: a STARTTLS-stripping middlebox
# --------------------------------------------------------------------------

STARTTLS_LINE = re.compile(rb"^(250[ -])STARTTLS([ \t]*\r?\n)$", re.I)


class ProxySession:
    """One client connection through a StripProxy."""

    def __init__(self, client):
        self.client = client          # (ip, port) of the client
        self.stripped = 0             # EHLO lines rewritten
        self.starttls = None          # None, "refused", "rewritten",
        #                               "forwarded" (the client asked)
        self.passthrough = False      # bytes relayed blindly (TLS)
        self.commands = []            # plaintext client lines (str)
        self.replies = []             # plaintext server lines (str)
        self.data = []                # bytes sent after DATA / in BDAT
        self.ended = threading.Event()

    @property
    def plaintext_data(self):
        return b"".join(self.data)

    def __repr__(self):
        return "ProxySession(%s:%d stripped=%d starttls=%s data=%d)" % (
            self.client[0], self.client[1], self.stripped, self.starttls,
            len(self.plaintext_data))


class StripProxy(_TcpServer):
    """A man in the middle on addr:port in front of upstream (addr, port):
    relays SMTP, rewrites the EHLO reply line `250-STARTTLS` / `250
    STARTTLS` into `250-XXXXXXXA` / `250 XXXXXXXA` (same length, as
    firewalls do) and handles a STARTTLS command from the client by
    starttls=
        "refuse"   answer "500 5.5.1 command not recognized" itself (the
                   command never reaches the server)
        "rewrite"  send "XXXXXXXX" to the server instead (it answers 500)
        "forward"  pass it on; everything after is relayed blindly (the
                   TLS handshake reaches the real server)
    strip=False relays the EHLO reply unchanged (a transparent proxy).
    Records per connection (proxy.sessions, ProxySession): stripped,
    starttls, commands, replies, data (what the client sent after a 354
    to DATA, up to the final dot, and BDAT chunks: the message bytes that
    crossed in plaintext). proxy.plaintext_data: all of it, every session.
    wait_for_sessions(n, timeout)."""

    def __init__(self, addr, port, upstream, starttls="refuse", strip=True,
                 idle_timeout=120.0, start=True):
        if starttls not in ("refuse", "rewrite", "forward"):
            raise ValueError("starttls: refuse, rewrite or forward")
        self.addr, self.port = addr, port
        self.upstream = tuple(upstream)
        self.starttls_mode = starttls
        self.strip = strip
        self.idle_timeout = idle_timeout
        self.sessions = []
        self._cond = threading.Condition()
        self._tcp_init()
        if start:
            self.start()

    @property
    def plaintext_data(self):
        return b"".join(s.plaintext_data for s in self.sessions)


    def wait_for_sessions(self, n, timeout=WAIT, ended=True):
        def ok():
            return len(self.sessions) >= n and (not ended or all(
                s.ended.is_set() for s in self.sessions[:n]))
        with self._cond:
            if not self._cond.wait_for(ok, timeout):
                raise AssertionError("proxy %s:%d: %d sessions, wanted %d"
                                     % (self.addr, self.port,
                                        len(self.sessions), n))
            return list(self.sessions)

    def _serve(self, cs, client):
        sess = ProxySession(client)
        with self._cond:
            self.sessions.append(sess)
        ss = None
        try:
            ss = socket.create_connection(self.upstream, timeout=10)
            self._relay(sess, cs, ss)
        except OSError:
            pass
        finally:
            for s in (cs, ss):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.close()
            sess.ended.set()
            with self._cond:
                self._cond.notify_all()

    def _relay(self, sess, cs, ss):
        cbuf, sbuf = bytearray(), bytearray()   # unprocessed input
        st = {"in_data": False, "bdat_left": 0}
        last = time.monotonic()
        while not self._stop.is_set():
            r, _, _ = select.select([cs, ss], [], [], 0.2)
            if not r:
                if time.monotonic() - last > self.idle_timeout:
                    return
                continue
            last = time.monotonic()
            for s in r:
                d = s.recv(65536)
                if not d:
                    return
                if sess.passthrough:
                    (ss if s is cs else cs).sendall(d)
                    continue
                (cbuf if s is cs else sbuf).extend(d)
            if sess.passthrough:
                continue
            # Client to server first: whatever the client sent before a
            # 354 that is relayed below reached us before it, so it is
            # still a command.
            self._from_client(sess, st, cbuf, sbuf, cs, ss)
            if not sess.passthrough:
                self._from_server(sess, st, sbuf, cs)

    def _from_server(self, sess, st, sbuf, cs):
        while True:
            i = sbuf.find(b"\n")
            if i < 0:
                if len(sbuf) > 65536:
                    cs.sendall(bytes(sbuf))
                    sbuf.clear()
                return
            ln = bytes(sbuf[:i + 1])
            del sbuf[:i + 1]
            m = STARTTLS_LINE.match(ln)
            if m and self.strip:
                ln = m.group(1) + b"XXXXXXXA" + m.group(2)
                sess.stripped += 1
            if ln.startswith(b"354"):
                st["in_data"] = True
            sess.replies.append(ln.decode("utf-8", "replace").rstrip())
            cs.sendall(ln)

    def _from_client(self, sess, st, cbuf, sbuf, cs, ss):
        while cbuf:
            if st["bdat_left"]:
                k = min(st["bdat_left"], len(cbuf))
                chunk = bytes(cbuf[:k])
                del cbuf[:k]
                sess.data.append(chunk)
                ss.sendall(chunk)
                st["bdat_left"] -= k
                continue
            i = cbuf.find(b"\n")
            if i < 0:
                if len(cbuf) > 1 << 20:
                    ss.sendall(bytes(cbuf))
                    cbuf.clear()
                return
            ln = bytes(cbuf[:i + 1])
            del cbuf[:i + 1]
            if st["in_data"]:
                if ln in (b".\r\n", b".\n"):
                    st["in_data"] = False
                else:
                    sess.data.append(ln)
                ss.sendall(ln)
                continue
            text = ln.decode("utf-8", "replace").rstrip("\r\n")
            sess.commands.append(text)
            verb = text.split(" ", 1)[0].upper()
            if verb == "STARTTLS":
                if self.starttls_mode == "refuse":
                    sess.starttls = "refused"
                    cs.sendall(b"500 5.5.1 command not recognized\r\n")
                    continue
                if self.starttls_mode == "rewrite":
                    sess.starttls = "rewritten"
                    ss.sendall(b"XXXXXXXX\r\n")
                    continue
                # forward: from here on both directions are relayed as
                # they come (the TLS handshake is end to end)
                sess.starttls = "forwarded"
                sess.passthrough = True
                ss.sendall(ln + bytes(cbuf))
                cbuf.clear()
                if sbuf:
                    cs.sendall(bytes(sbuf))
                    sbuf.clear()
                return
            if verb == "BDAT":
                f = text.split()
                if len(f) >= 2 and f[1].isdigit():
                    st["bdat_left"] = int(f[1])
            ss.sendall(ln)


# --------------------------------------------------------------------------
# PostfixPeer: a private Postfix instance as the receiving MTA
# --------------------------------------------------------------------------

def _proc_children():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            ppid = int(st[st.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _tree(root):
    """root and all its descendants."""
    kids, out, todo = _proc_children(), [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _alive(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line
    except OSError:
        return False
    return False


class PostfixPeer:
    """A private Postfix (see the module docstring). Needs root."""

    SERVICES = [
        ("pickup", "unix", "n", "-", "n", "60", "1", "pickup"),
        ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
        ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
        ("tlsmgr", "unix", "-", "-", "n", "1000?", "1", "tlsmgr"),
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

    def __init__(self, workdir, addr, port, domain, users=None, cert=None,
                 key=None, hostname=None, extra_main_cf=(), start=True):
        self.addr, self.port = addr, port
        self.domain = domain.lower().rstrip(".")
        self.users = users
        self.cert, self.key = cert, key
        self.hostname = hostname or "postfix-%s.test" % addr.replace(".", "-")
        self.base = os.path.join(workdir, "postfix-%s-%d" % (addr, port))
        self.etc = os.path.join(self.base, "etc")
        self.queue = os.path.join(self.base, "queue")
        self.mail = os.path.join(self.base, "mail")
        self.master = None
        self.extra_main_cf = list(extra_main_cf)
        self._configure()
        if start:
            self.start()

    def _configure(self):
        b = self.base
        for d in (self.etc, self.queue, os.path.join(b, "data"),
                  os.path.join(self.mail, self.domain)):
            os.makedirs(d, exist_ok=True)
        for d in (workdir_parent for workdir_parent in
                  (os.path.dirname(b), b)):
            os.chmod(d, 0o755)
        try:
            pw = pwd.getpwnam("nobody")
        except KeyError:
            pw = pwd.getpwnam("postfix")
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        pf = pwd.getpwnam("postfix")
        os.chown(os.path.join(b, "data"), pf.pw_uid, pf.pw_gid)
        for d in (self.mail, os.path.join(self.mail, self.domain)):
            os.chown(d, self.uid, self.gid)
        with open(os.path.join(self.etc, "vmailbox"), "w") as f:
            if self.users is None:
                f.write("@%s %s/catchall/\n" % (self.domain, self.domain))
            for u in self.users or ():
                lp = u.split("@")[0]
                f.write("%s@%s %s/%s/\n" % (lp, self.domain, self.domain, lp))
        tls = ""
        if self.cert:
            tls = ("smtpd_tls_security_level = may\n"
                   "smtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n"
                   "smtpd_tls_loglevel = 1\n"
                   "smtpd_tls_received_header = yes\n" % (self.cert,
                                                          self.key))
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
myhostname = {h}
mydomain = netlab.test
myorigin = $mydomain
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
alias_maps =
alias_database =
local_recipient_maps =
relay_domains =
virtual_mailbox_domains = {d}
virtual_mailbox_base = {m}
virtual_mailbox_maps = texthash:{e}/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
maillog_file = {b}/maillog
maillog_file_prefixes = {b}
biff = no
{tls}""".format(q=self.queue, b=b, m=self.mail, e=self.etc, uid=self.uid,
                gid=self.gid, h=self.hostname, d=self.domain, tls=tls)
        main_cf += "".join(ln + "\n" for ln in self.extra_main_cf)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(main_cf)
        services = [("%s:%d" % (self.addr, self.port), "inet", "n", "-",
                     "n", "-", "-", "smtpd")] + self.SERVICES
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            for s in services:
                f.write("%-20s %-10s %s\n" % (s[0], s[1], "  ".join(s[2:])))

    def _postfix(self, *args, timeout=60):
        cmd = ["postfix", "-c", self.etc] + list(args)
        # Postfix reports to syslog when stderr is not a terminal: give it
        # one when script(1) is there.
        if shutil.which("script"):
            cmd = ["script", "-qec", " ".join(cmd), "/dev/null"]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        return r.returncode, r.stdout.decode("utf-8", "replace")

    def _master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                pid = int(f.read().split()[0])
            return pid if _alive(pid) else 0
        except (OSError, ValueError, IndexError):
            return 0

    def start(self):
        rc, out = self._postfix("start")
        if rc != 0:
            raise NetlabError("postfix start failed (%d): %s\n%s" % (
                rc, out.strip(), self.maillog()))
        self.master = wait_for(self._master_pid, WAIT, what="postfix master")

        def greets():
            try:
                with socket.create_connection((self.addr, self.port),
                                              timeout=2) as s:
                    return s.recv(512).startswith(b"220")
            except OSError:
                return False
        wait_for(greets, WAIT, 0.1, "postfix to greet on %s:%d" % (
            self.addr, self.port))
        return self

    def stop(self):
        """postfix stop, then SIGKILL whatever of its process tree is left."""
        if not self.master:
            return
        pids = _tree(self.master)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._postfix("stop", timeout=30)
        with contextlib.suppress(NetlabError):
            wait_for(lambda: not _alive(self.master), 20, 0.1,
                     "postfix master to exit")
        for p in set(pids + _tree(self.master)):
            if _alive(p):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
        self.master = None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()

    def maildir_files(self):
        """Paths of the delivered messages (every Maildir's new/ and
        cur/)."""
        out = []
        for dirpath, _, files in os.walk(self.mail):
            if os.path.basename(dirpath) in ("new", "cur"):
                out += [os.path.join(dirpath, f) for f in files]
        return sorted(out)

    def wait_for_maildir(self, n, timeout=WAIT):
        """Waits until n messages were delivered; returns their paths."""
        try:
            return wait_for(lambda: len(self.maildir_files()) >= n and
                            self.maildir_files(), timeout, 0.1,
                            "%d messages in %s" % (n, self.mail))
        except NetlabError as e:
            raise AssertionError("%s\n%s" % (e, self.maillog()[-3000:]))

    def maillog(self):
        try:
            with open(os.path.join(self.base, "maillog"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class SmtpSink:
    """Postfix's smtp-sink on addr:port: accepts and discards everything,
    fast (for benchmarks). Equivalent shell command:
        smtp-sink -c -u nobody ADDR:PORT 1000
    (-c: count sessions and messages on stdout; 1000: backlog)."""

    def __init__(self, addr, port, backlog=1000, args=(), start=True):
        self.addr, self.port = addr, port
        self.cmd = ["smtp-sink", "-u", "nobody"] + list(args) + [
            "%s:%d" % (addr, port), str(backlog)]
        self.proc = None
        if start:
            self.start()

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL,
                                     start_new_session=True)

        def greets():
            try:
                with socket.create_connection((self.addr, self.port),
                                              timeout=1) as s:
                    return s.recv(512).startswith(b"220")
            except OSError:
                return False
        wait_for(greets, 10, 0.05, "smtp-sink")
        return self

    def stop(self):
        _stop_popen(self.proc)
        self.proc = None


# --------------------------------------------------------------------------
# pytest fixtures (import them into a test module: `from netlab import *`)
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def netlab_dir():
    """A session tmp dir (0755: unprivileged daemons traverse it); removed
    at the end unless NETLAB_KEEP=1."""
    d = tempfile.mkdtemp(prefix="netlab-")
    os.chmod(d, 0o755)
    yield d
    if os.environ.get("NETLAB_KEEP") != "1":
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def netlab_port():
    """One TCP port free on every ADDRS address (petrel's remote-port)."""
    return smtp_port()


@pytest.fixture(scope="session")
def netlab_dns(netlab_dir):
    if not shutil.which("nsd") or not shutil.which("ldns-signzone"):
        pytest.skip("nsd or ldnsutils not installed (tools/deps.sh)")
    dns = DnsServer(netlab_dir)
    dns.start()
    yield dns
    dns.stop()


@pytest.fixture
def dns(netlab_dns):
    """The session's DnsServer, reset to a bare test. zone and running."""
    netlab_dns.reset(apply=False)
    if netlab_dns.running:
        netlab_dns.apply()
    else:
        netlab_dns.start()
    return netlab_dns


@pytest.fixture(scope="session")
def test_ca(netlab_dir):
    return TestCA(netlab_dir)


@pytest.fixture
def smtp_peer(netlab_port):
    """Factory: smtp_peer(addr, **SmtpPeer options) -> a started SmtpPeer
    on the session port (port=N overrides); all stopped after the test."""
    peers = []

    def make(addr, **kw):
        port = kw.pop("port", netlab_port)
        p = SmtpPeer(addr, port, **kw)
        peers.append(p)
        return p
    yield make
    for p in peers:
        p.stop()


@pytest.fixture(scope="session")
def other_ca(netlab_dir):
    """A second, untrusted CA: its leaves are "forged" certificates."""
    return TestCA(netlab_dir, "netlab forger CA", subdir="ca-forger")


@pytest.fixture
def sts_server(test_ca):
    """Factory: sts_server(domain, addr=None, port=443, cert="good"|"wrong"|
    "self"|(cert, key), **StsServer options) -> a started StsServer (addr
    None: on a free STS_ADDRS address, srv.addr) for
    mta-sts.DOMAIN ("good": a TestCA leaf for that name, "wrong": a TestCA
    leaf for another name, "self": self-signed for that name); all stopped
    after the test. The DNS records are the test's: dns.mta_sts(domain,
    addr)."""
    servers = []

    def make(domain, addr=None, port=443, cert="good", **kw):
        host = "mta-sts." + domain.rstrip(".")
        if cert == "good":
            cert = test_ca.leaf([host])
        elif cert == "wrong":
            cert = test_ca.leaf(["wrong-name." + domain.rstrip(".")])
        elif cert == "self":
            cert = test_ca.self_signed([host])
        srv = None
        # addr None: the first STS_ADDRS address whose port is free
        # (another test run on this machine may hold some of them)
        for a in ([addr] if addr else random.sample(STS_ADDRS,
                                                    len(STS_ADDRS))):
            try:
                srv = StsServer(a, port, cert=cert[0], key=cert[1], **kw)
                break
            except OSError as e:
                if addr or e.errno != errno.EADDRINUSE:
                    raise
        if srv is None:
            raise NetlabError("no STS_ADDRS address has port %d free" % port)
        servers.append(srv)
        return srv
    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def strip_proxy(netlab_port):
    """Factory: strip_proxy(addr, upstream_addr, **StripProxy options) ->
    a started StripProxy on addr:netlab_port in front of
    upstream_addr:netlab_port (port=, upstream_port= override); all
    stopped after the test."""
    proxies = []

    def make(addr, upstream_addr, port=None, upstream_port=None, **kw):
        px = StripProxy(addr, port or netlab_port,
                        (upstream_addr, upstream_port or netlab_port), **kw)
        proxies.append(px)
        return px
    yield make
    for px in proxies:
        px.stop()


@pytest.fixture
def postfix_peer(netlab_dir, netlab_port):
    """Factory: postfix_peer(addr, domain, **PostfixPeer options) -> a
    started PostfixPeer on the session port; all stopped after the test."""
    if os.geteuid() != 0 or not shutil.which("postfix"):
        pytest.skip("a private Postfix needs root and the postfix package")
    peers = []

    def make(addr, domain, **kw):
        port = kw.pop("port", netlab_port)
        p = PostfixPeer(netlab_dir, addr, port, domain, start=False, **kw)
        peers.append(p)
        return p.start()
    yield make
    for p in peers:
        p.stop()


__all__ = [
    "ADDRS", "DNS_ADDR", "DNS_DEAD_ADDR", "INFRA_MAX_RTT", "NetlabError",
    "DnsServer", "SilentDns", "dns_query", "TestCA", "SmtpPeer", "Session",
    "Transaction", "Rcpt", "Act", "close", "reply_close", "endless",
    "long_line", "garbage", "stall", "inject", "by_address", "PostfixPeer",
    "SmtpSink", "smtp_port", "free_port", "wait_for", "first_pem",
    "StsServer", "StsRequest", "sts_policy", "STS_PATH", "StripProxy",
    "ProxySession", "STS_ADDRS",
    "netlab_dir", "netlab_port", "netlab_dns", "dns", "test_ca",
    "other_ca", "smtp_peer", "postfix_peer", "sts_server", "strip_proxy",
]
