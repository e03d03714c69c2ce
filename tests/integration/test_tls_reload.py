"""SIGHUP reloads the certificate and key (docs/operations.md): sessions
that start after the reload are served the new certificate."""
import hashlib
import os
import ssl
import subprocess

from conftest import SMTPConn, wait_until


def make_cert(path_cert, path_key, cn):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", path_key, "-out", path_cert, "-days", "2",
                    "-subj", "/CN=%s" % cn], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def served_cert(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with SMTPConn(port) as c:
        c.ehlo()
        c.starttls(ctx)
        der = c.sock.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest()


def test_sighup_reloads_certificate(petrel_factory, tmp_path):
    d = tmp_path
    os.chmod(d, 0o755)
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    make_cert(cert, key, "one.test")
    srv = petrel_factory(extra=["tls-certificate %s" % cert,
                                "tls-key %s" % key])
    first = served_cert(srv.mx)
    make_cert(cert, key, "two.test")
    srv.sighup()
    wait_until(lambda: "configuration reloaded" in srv.log(), 30,
               what="the reload in the log")
    wait_until(lambda: served_cert(srv.mx) != first, 30,
               what="the new certificate being served")
