"""
scram: a small SCRAM-SHA-256 / SCRAM-SHA-256-PLUS client for the tests,
written from RFC 5802 (SCRAM), RFC 7677 (SHA-256) and RFC 9266 (the
tls-exporter channel binding) with the standard library only.

    c = ScramClient("alice@example.test", "secret")
    first = c.client_first()                  # "n,,n=...,r=..."
    final = c.client_final(server_first)      # "c=...,r=...,p=..."
    assert c.verify_server_final(server_final)

The messages are str; SMTP AUTH (RFC 4954) carries them base64-encoded,
which is the caller's job (b64encode_str/b64decode_str help). With channel
binding, pass the connection's tls-exporter value: RFC 9266 2 defines it as
32 octets of keying material exported (RFC 5705) with the label
"EXPORTER-Channel-Binding" and an empty context. Python's ssl module (3.11)
can only give "tls-unique", so a test gets the value elsewhere (for example
`openssl s_client -keymatexport EXPORTER-Channel-Binding -keymatexportlen
32`) or sends deliberately wrong data to see the server refuse it.

No SASLprep (RFC 4013) is applied to the user name or password: both are
sent as given, UTF-8 encoded, which is what petrel compares. Tests that want
to send broken messages can override cb_flag or build strings by hand.
"""
import base64
import binascii
import hashlib
import hmac
import re
import secrets

__all__ = ["ScramClient", "ScramError", "saslname", "scram_sha256_keys",
           "users_scram_value", "b64encode_str", "b64decode_str"]

HASH = "sha256"
DIGEST_LEN = 32
CBIND_TYPE = "tls-exporter"
# RFC 7677 4: the iteration count SHOULD be at least 4096; more than this
# would only make a test slow, and a hostile server could ask for billions.
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 1000000

# printable = %x21-2B / %x2D-7E (RFC 5802 7)
_PRINTABLE_RE = re.compile(r"^[\x21-\x2b\x2d-\x7e]+$")
_POSIT_NUMBER_RE = re.compile(r"^[1-9][0-9]*$")
_B64_RE = re.compile(r"^(?:[A-Za-z0-9+/]{4})*"
                     r"(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")


class ScramError(Exception):
    """The server sent something a correct SCRAM client must refuse."""


def saslname(name):
    """RFC 5802 5.1: ',' and '=' in names are sent as '=2C' and '=3D'."""
    return name.replace("=", "=3D").replace(",", "=2C")


def b64encode_str(data):
    """base64 of str (UTF-8) or bytes, as str."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def b64decode_str(text):
    """Strict base64 to str (UTF-8); raises ScramError when malformed."""
    return _b64decode(text).decode("utf-8")


def _b64decode(text):
    if not _B64_RE.match(text):
        raise ScramError("malformed base64: %r" % text)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ScramError("malformed base64: %r" % text) from e
    # Python ignores non-zero pad bits; RFC 4648 3.5 lets a decoder refuse
    # them, and petrel does: only the canonical spelling is accepted.
    if base64.b64encode(data).decode("ascii") != text:
        raise ScramError("non-canonical base64: %r" % text)
    return data


def _hmac(key, msg):
    return hmac.new(key, msg, HASH).digest()


def _h(data):
    return hashlib.new(HASH, data).digest()


def _salted_password(password, salt, iterations):
    # SaltedPassword := Hi(Normalize(password), salt, i), and Hi is
    # PBKDF2 with HMAC as the PRF and dkLen = the hash length (RFC 5802 2.2).
    if isinstance(password, str):
        password = password.encode("utf-8")
    return hashlib.pbkdf2_hmac(HASH, password, salt, iterations, DIGEST_LEN)


def scram_sha256_keys(password, salt, iterations=4096):
    """(StoredKey, ServerKey) for password: what a server stores
    (RFC 5802 3)."""
    salted = _salted_password(password, salt, iterations)
    return _h(_hmac(salted, b"Client Key")), _hmac(salted, b"Server Key")


def users_scram_value(password, salt=None, iterations=4096):
    """The value of petrel's users-file key scram-sha-256=: ITER,SALT_B64,
    STOREDKEY_B64,SERVERKEY_B64 (the Dovecot {SCRAM-SHA-256} layout). A
    random 16-octet salt unless one is given."""
    if salt is None:
        salt = secrets.token_bytes(16)
    stored, server = scram_sha256_keys(password, salt, iterations)
    return "%d,%s,%s,%s" % (iterations, b64encode_str(salt),
                            b64encode_str(stored), b64encode_str(server))


def _attributes(message):
    """Splits 'a=x,b=y' into [(a, x), (b, y)], checking attr-val shape."""
    out = []
    for field in message.split(","):
        if len(field) < 2 or field[1] != "=" or not field[0].isalpha() \
                or not field[0].isascii():
            raise ScramError("malformed attribute %r in %r" % (field, message))
        out.append((field[0], field[2:]))
    return out


class ScramClient:
    """One SCRAM-SHA-256(-PLUS) exchange from the client side.

    cbind: None, or the tls-exporter channel binding data (bytes) of the
        connection; then the -PLUS mechanism is meant and the gs2 flag is
        "p=tls-exporter".
    cb_flag: the gs2-cbind-flag to send: "n" (default without cbind), "y"
        (client supports channel binding but thinks the server does not),
        "p" (default with cbind; "p=tls-exporter"), or a full "p=NAME" to
        test other channel binding types.
    authzid: optional authorization identity ("a=" in the gs2 header).
    nonce: the client nonce; random unless given (tests inject the RFC's).
    """

    def __init__(self, user, password, cbind=None, cb_flag=None, authzid="",
                 nonce=None, min_iterations=MIN_ITERATIONS,
                 max_iterations=MAX_ITERATIONS):
        if cb_flag is None:
            cb_flag = "p" if cbind is not None else "n"
        if cb_flag == "p":
            cb_flag = "p=" + CBIND_TYPE
        if cb_flag not in ("n", "y") and not cb_flag.startswith("p="):
            raise ValueError("cb_flag must be n, y, p or p=NAME")
        if cb_flag.startswith("p=") and cbind is None:
            raise ValueError("channel binding flag p needs cbind data")
        if nonce is None:
            nonce = b64encode_str(secrets.token_bytes(18))
        if not _PRINTABLE_RE.match(nonce):
            raise ValueError("nonce must be printable ASCII without ','")
        self.user = user
        self.password = password
        self.cbind = cbind
        self.cb_flag = cb_flag
        self.authzid = authzid
        self.cnonce = nonce
        self.min_iterations = min_iterations
        self.max_iterations = max_iterations
        self.gs2_header = "%s,%s," % (
            cb_flag, "a=" + saslname(authzid) if authzid else "")
        self.client_first_bare = "n=%s,r=%s" % (saslname(user), nonce)
        self.server_first = None
        self.nonce = None
        self.salt = None
        self.iterations = None
        self.auth_message = None
        self.server_signature = None
        self.server_error = None

    def client_first(self):
        """client-first-message = gs2-header client-first-message-bare"""
        return self.gs2_header + self.client_first_bare

    def cbind_input(self):
        """cbind-input = gs2-header [ cbind-data ]: the data only with p."""
        data = self.gs2_header.encode("utf-8")
        if self.cb_flag.startswith("p="):
            data += self.cbind
        return data

    def _parse_server_first(self, server_first):
        # server-first-message = [reserved-mext ","] nonce "," salt ","
        #                        iteration-count ["," extensions]
        attrs = _attributes(server_first)
        if attrs and attrs[0][0] == "m":
            raise ScramError("server requires an extension: %r" %
                             server_first)
        if len(attrs) < 3 or [a for a, _ in attrs[:3]] != ["r", "s", "i"]:
            raise ScramError("malformed server-first-message: %r" %
                             server_first)
        nonce, salt64, iters = (v for _, v in attrs[:3])
        if not _PRINTABLE_RE.match(nonce) or \
                not nonce.startswith(self.cnonce) or \
                len(nonce) <= len(self.cnonce):
            raise ScramError("server nonce %r does not extend ours %r" %
                             (nonce, self.cnonce))
        salt = _b64decode(salt64)
        if not salt:
            raise ScramError("empty salt")
        if not _POSIT_NUMBER_RE.match(iters):
            raise ScramError("bad iteration count %r" % iters)
        iterations = int(iters)
        if not self.min_iterations <= iterations <= self.max_iterations:
            raise ScramError("iteration count %d outside %d..%d" %
                             (iterations, self.min_iterations,
                              self.max_iterations))
        return nonce, salt, iterations

    def client_final(self, server_first):
        """client-final-message for server_first (str); also computes the
        ServerSignature that verify_server_final() expects."""
        if self.server_first is not None:
            raise ScramError("client_final called twice")
        nonce, salt, iterations = self._parse_server_first(server_first)
        self.server_first = server_first
        self.nonce, self.salt, self.iterations = nonce, salt, iterations

        without_proof = "c=%s,r=%s" % (b64encode_str(self.cbind_input()),
                                       nonce)
        self.auth_message = ",".join(
            (self.client_first_bare, server_first, without_proof))
        am = self.auth_message.encode("utf-8")
        salted = _salted_password(self.password, salt, iterations)
        client_key = _hmac(salted, b"Client Key")
        stored_key = _h(client_key)
        client_signature = _hmac(stored_key, am)
        proof = bytes(a ^ b for a, b in zip(client_key, client_signature))
        self.server_signature = _hmac(_hmac(salted, b"Server Key"), am)
        return without_proof + ",p=" + b64encode_str(proof)

    def verify_server_final(self, server_final):
        """True if server_final is "v=" with the expected ServerSignature
        (RFC 5802 3); False for a wrong signature, "e=..." (kept in
        self.server_error) or anything malformed."""
        if self.server_signature is None:
            return False
        # server-final-message = (server-error / verifier) ["," extensions]
        first = server_final.split(",", 1)[0]
        if first.startswith("e="):
            self.server_error = first[2:]
            return False
        if not first.startswith("v="):
            return False
        try:
            sig = _b64decode(first[2:])
        except ScramError:
            return False
        return hmac.compare_digest(sig, self.server_signature)
