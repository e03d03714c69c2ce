"""
The test SCRAM client (scram.py) against the RFC 7677 test vector and the
checks a client must make. Needs no running server (no fixtures are used):

    /usr/bin/python3 -m pytest -q tests/integration/test_scram_vectors.py
"""
import base64
import hashlib
import hmac

import pytest

from scram import (ScramClient, ScramError, b64decode_str, b64encode_str,
                   saslname, scram_sha256_keys, users_scram_value)

# RFC 7677 3: user "user", password "pencil".
RFC_CNONCE = "rOprNGfwEbeRWgbNEkqO"
RFC_CLIENT_FIRST = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = ("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
RFC_CLIENT_FINAL = ("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF"
                    "$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
RFC_SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

CBDATA = bytes(range(1, 33))


def rfc_client():
    return ScramClient("user", "pencil", nonce=RFC_CNONCE)


def test_rfc7677_vector():
    c = rfc_client()
    assert c.client_first() == RFC_CLIENT_FIRST
    assert c.client_final(RFC_SERVER_FIRST) == RFC_CLIENT_FINAL
    assert c.auth_message == ("n=user,r=rOprNGfwEbeRWgbNEkqO,"
                              + RFC_SERVER_FIRST + ","
                              + RFC_CLIENT_FINAL.rsplit(",p=", 1)[0])
    assert c.verify_server_final(RFC_SERVER_FINAL)
    # extensions after the verifier are ignored
    assert c.verify_server_final(RFC_SERVER_FINAL + ",x=1")


def test_rfc7677_wrong_server_final():
    c = rfc_client()
    c.client_final(RFC_SERVER_FIRST)
    assert not c.verify_server_final(
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G8=")
    # the same octets with non-zero pad bits: not canonical, refused
    assert not c.verify_server_final(
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=")
    assert not c.verify_server_final("v=AAAA")
    assert not c.verify_server_final("v=")
    assert not c.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRs"
                                     "jl95G4")  # unpadded
    assert not c.verify_server_final(" " + RFC_SERVER_FINAL)
    assert not c.verify_server_final("")
    assert not c.verify_server_final("e=invalid-proof")
    assert c.server_error == "invalid-proof"


def test_verify_before_final_is_false():
    assert not rfc_client().verify_server_final(RFC_SERVER_FINAL)


def test_wrong_password_changes_proof():
    c = ScramClient("user", "pencil!", nonce=RFC_CNONCE)
    assert c.client_final(RFC_SERVER_FIRST) != RFC_CLIENT_FINAL
    assert not c.verify_server_final(RFC_SERVER_FINAL)


def test_stored_keys_match_the_vector():
    # A server holding only these keys must accept the RFC's proof: check
    # H(ClientProof XOR ClientSignature) == StoredKey, as src/auth will.
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    stored, server = scram_sha256_keys("pencil", salt, 4096)
    c = rfc_client()
    final = c.client_final(RFC_SERVER_FIRST)
    proof = base64.b64decode(final.rsplit(",p=", 1)[1])
    am = c.auth_message.encode()
    sig = hmac.new(stored, am, "sha256").digest()
    client_key = bytes(a ^ b for a, b in zip(proof, sig))
    assert hashlib.sha256(client_key).digest() == stored
    assert (base64.b64encode(hmac.new(server, am, "sha256").digest())
            == RFC_SERVER_FINAL[2:].encode())
    value = users_scram_value("pencil", salt, 4096)
    assert value == "4096,W22ZaJ0SNY7soEsUEjb6gQ==,%s,%s" % (
        b64encode_str(stored), b64encode_str(server))
    it, s64, st64, sv64 = users_scram_value("x").split(",")
    assert it == "4096" and len(base64.b64decode(s64)) == 16
    assert len(base64.b64decode(st64)) == 32 == len(base64.b64decode(sv64))


def test_random_nonce_is_printable_and_fresh():
    a, b = ScramClient("u", "p"), ScramClient("u", "p")
    assert a.cnonce != b.cnonce
    for c in (a, b):
        assert len(c.cnonce) >= 24
        assert all(0x21 <= ord(ch) <= 0x7e and ch != "," for ch in c.cnonce)
        assert c.client_first() == "n,,n=u,r=" + c.cnonce


@pytest.mark.parametrize("user,wire", [
    ("user", "user"),
    ("a,b=c", "a=2Cb=3Dc"),
    ("==", "=3D=3D"),
    (",", "=2C"),
    ("=2C", "=3D2C"),
    ("j\u00f6rg@example.test", "j\u00f6rg@example.test"),
])
def test_saslname_escaping(user, wire):
    assert saslname(user) == wire
    c = ScramClient(user, "p", nonce="abc")
    assert c.client_first() == "n,,n=%s,r=abc" % wire


def test_authzid_in_gs2_header():
    c = ScramClient("user", "pencil", authzid="ad,min", nonce="abc")
    assert c.client_first() == "n,a=ad=2Cmin,n=user,r=abc"
    final = c.client_final("r=abcdef,s=QUJDRA==,i=4096")
    want = "c=%s,r=abcdef,p=" % b64encode_str("n,a=ad=2Cmin,")
    assert final.startswith(want)


def test_flag_y():
    c = ScramClient("user", "pencil", cb_flag="y", nonce="abc")
    assert c.client_first() == "y,,n=user,r=abc"
    assert c.client_final("r=abcdef,s=QUJDRA==,i=4096").startswith(
        "c=eSws,r=abcdef,p=")


def test_tls_exporter_binding():
    c = ScramClient("user", "pencil", cbind=CBDATA, nonce="abc")
    assert c.client_first() == "p=tls-exporter,,n=user,r=abc"
    final = c.client_final("r=abcdef,s=QUJDRA==,i=4096")
    c64 = final.split(",")[0][2:]
    assert base64.b64decode(c64) == b"p=tls-exporter,," + CBDATA
    # what petrel's parser sees: the header then exactly 32 octets
    assert c64 == ("cD10bHMtZXhwb3J0ZXIsLAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBka"
                   "GxwdHh8g")
    # a different binding gives a different proof for the same exchange
    d = ScramClient("user", "pencil", cbind=bytes(32), nonce="abc")
    assert d.client_final("r=abcdef,s=QUJDRA==,i=4096") != final


def test_other_binding_type_for_negative_tests():
    c = ScramClient("u", "p", cbind=b"x", cb_flag="p=tls-unique", nonce="n")
    assert c.client_first() == "p=tls-unique,,n=u,r=n"
    with pytest.raises(ValueError):
        ScramClient("u", "p", cb_flag="p")  # p without data
    with pytest.raises(ValueError):
        ScramClient("u", "p", cb_flag="q")
    with pytest.raises(ValueError):
        ScramClient("u", "p", nonce="a,b")


@pytest.mark.parametrize("server_first", [
    # nonce must extend ours
    "r=XOprNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    "r=rOprNGfw,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    "r=,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    "r=rOprNGfwEbeRWgbNEkqO x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    # iteration count: not a positive number, too small, absurdly large
    "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
    "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096",
    "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
    "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=abc",
    "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
    "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1",
    "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095",
    "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4000000000",
    # salt
    "r=rOprNGfwEbeRWgbNEkqOx,s=,i=4096",
    "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ,i=4096",
    "r=rOprNGfwEbeRWgbNEkqOx,s=W22Za J0SNY7soEsUEjb6gQ==,i=4096",
    # order, missing parts, mandatory extension
    "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOx,i=4096",
    "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==",
    "r=rOprNGfwEbeRWgbNEkqOx,i=4096",
    "m=ext,r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,",
    "e=other-error",
    "",
])
def test_bad_server_first(server_first):
    c = rfc_client()
    with pytest.raises(ScramError):
        c.client_final(server_first)


def test_server_first_extensions_tolerated():
    c = rfc_client()
    final = c.client_final(RFC_SERVER_FIRST + ",x=ext")
    assert final.startswith("c=biws,r=" + RFC_SERVER_FIRST[2:].split(",")[0])


def test_client_final_only_once():
    c = rfc_client()
    c.client_final(RFC_SERVER_FIRST)
    with pytest.raises(ScramError):
        c.client_final(RFC_SERVER_FIRST)


def test_b64_helpers():
    assert b64encode_str("n,,") == "biws"
    assert b64decode_str("biws") == "n,,"
    for bad in ("biw", "bi ws", "biws\n", "=biw", "Zh=="):
        with pytest.raises(ScramError):
            b64decode_str(bad)
