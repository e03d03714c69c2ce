"""Scratch: DANE-EE match / mismatch / DANE-TA (lead's development check)."""
import pytest

pytest.register_assert_rewrite("netlab")
from netlab import ADDRS  # noqa: E402

pytest_plugins = ["netlab"]
SENDER = "alice@example.test"


def conf(dns, port, *more):
    return dns.petrel_conf() + ["relay-from 127.0.0.0/8",
                                "remote-port %d" % port, "retry-min 1s",
                                "retry-max 2s"] + list(more)


def test_dane_ee(petrel_factory, dns, smtp_peer, test_ca, netlab_port):
    cert, key = test_ca.leaf(["mx1.d1.test"])
    other, okey = test_ca.self_signed(["mx1.d2.test"])
    good = smtp_peer(ADDRS[30], cert=cert, key=key)
    bad = smtp_peer(ADDRS[31], cert=other, key=okey)
    with dns.batch():
        dns.zone("d1.test")
        dns.mx("d1.test", "mx1.d1.test")
        dns.a("mx1.d1.test", ADDRS[30])
        dns.tlsa("_25._tcp.mx1.d1.test", test_ca.tlsa(cert))
        dns.zone("d2.test")
        dns.mx("d2.test", "mx1.d2.test")
        dns.a("mx1.d2.test", ADDRS[31])
        dns.tlsa("_25._tcp.mx1.d2.test", test_ca.tlsa(cert))
    p = petrel_factory(extra=conf(dns, netlab_port))
    p.send(["a@d1.test", ], sender=SENDER)
    m, = good.wait_for_messages(1, timeout=30)
    assert m.session.tls
    p.wait_log(r"to=<a@d1.test> .*security=dane .*status=sent")
    p.send(["b@d2.test"], sender=SENDER)
    p.wait_log(r"to=<b@d2.test> .*security=dane .*status=deferred .*DANE verification failed")
    assert bad.messages == []
    print(open(p.log_path).read()[-3000:] if hasattr(p, "log_path") else "")
