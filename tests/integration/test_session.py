"""More session behaviour: EHLO arguments, QUIT, half-close, EXPN, limits
on recipients and connections, big pipelined batches, BDAT edge cases."""
import socket
import threading

import pytest

from conftest import (SMTPConn, body_of, dot_stuff, make_message,
                      queued_id, send_sentinel)


def test_ehlo_address_literal(shared_petrel):
    c = shared_petrel.connect()
    assert c.cmd("EHLO [127.0.0.1]").code == 250
    assert c.cmd("HELO [IPv6:::1]").code == 250
    c.quit()


def test_ehlo_bad_argument_501(shared_petrel):
    c = shared_petrel.connect()
    r = c.cmd("EHLO foo bar")
    assert r.code == 501, r
    r = c.cmd("EHLO -bad-")
    assert r.code == 501, r
    c.quit()


def test_helo_session_rejects_esmtp_params(shared_petrel):
    c = shared_petrel.connect()
    assert c.cmd("HELO client.test").code == 250
    r = c.cmd("MAIL FROM:<a@example.org> SIZE=100")
    assert r.code in (501, 555), r
    c.quit()


def test_vrfy_without_argument_501(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    r = c.cmd("VRFY")
    assert r.code == 501, r
    c.quit()


def test_rset_with_argument_501(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    r = c.cmd("RSET now")
    assert r.code == 501, r
    c.quit()


def test_data_with_argument_501(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@example.org>").code == 250
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    r = c.cmd("DATA now")
    assert r.code == 501, r
    c.quit()


def test_nothing_after_quit_is_executed(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    c.send(b"QUIT\r\nHELP\r\nNOOP\r\n")
    r = c.read_reply()
    assert r.code == 221, r
    c.expect_closed()
    c.close()


def test_half_close_after_full_transaction(petrel):
    """A client may send a whole pipelined session and then shut down its
    sending side (like `nc -N`); every command received before the EOF is
    still answered and the message is delivered."""
    msg = dot_stuff(make_message(subject="half close"))
    s = socket.create_connection(("127.0.0.1", petrel.mx), timeout=60)
    s.sendall(b"EHLO client.test\r\nMAIL FROM:<s@example.org>\r\n"
              b"RCPT TO:<demo@localhost>\r\nDATA\r\n" + msg + b".\r\n"
              b"QUIT\r\n")
    s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    assert b"\r\n354 " in out, out
    assert b"queued as" in out, out
    assert out.endswith(b"221 2.0.0 Bye\r\n"), out
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1


def test_client_disconnect_mid_data(petrel):
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(b"Subject: cut\r\n\r\nhalf\r\n")
    c.close()
    send_sentinel(petrel)
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1 and b"sentinel" in msgs[0]
    assert not petrel.queue_files()


def test_client_reset_waiting_for_commit(petrel):
    """The client vanishes right after the final dot: the message may or
    may not be delivered, but at most once, and the server is fine."""
    for i in range(5):
        c = petrel.connect()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@example.org>").code == 250
        assert c.cmd("RCPT TO:<demo@localhost>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(dot_stuff(make_message(subject="vanish %d" % i)) + b".\r\n")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
    send_sentinel(petrel)
    petrel.wait_messages(1)
    msgs = petrel.messages()
    subjects = [m.split(b"Subject: ")[1].split(b"\n")[0] for m in msgs]
    assert len(subjects) == len(set(subjects)), subjects


@pytest.mark.petrel_conf("expn yes")
def test_expn_enabled(petrel):
    c = petrel.connect()
    c.ehlo()
    r = c.cmd("EXPN team@example.test")
    assert r.code == 250, r
    assert sorted(r.lines) == ["2.1.5 <alice@example.test>",
                               "2.1.5 <bob@example.test>"], r
    r = c.cmd("EXPN nobody@example.test")
    assert r.code == 550, r
    c.quit()


@pytest.mark.petrel_conf("max-recipients 100")
def test_max_recipients_452(petrel):
    c = petrel.connect()
    c.ehlo()
    ext = c.extensions(c.ehlo())
    assert "LIMITS RCPTMAX=100" in ext, ext
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    c.send(b"".join(b"RCPT TO:<demo+%d@localhost>\r\n" % i
                    for i in range(102)))
    replies = c.read_replies(102)
    assert all(r.code == 250 for r in replies[:100]), replies[:100]
    for r in replies[100:]:
        assert r.code == 452 and r.esc == "4.5.3", r
    # The transaction goes on with the 100 accepted.
    assert c.cmd("DATA").code == 354
    c.send(dot_stuff(make_message(subject="100 rcpts")) + b".\r\n")
    queued_id(c.read_reply())
    c.quit()
    assert len(petrel.wait_messages(1)) == 1


@pytest.mark.petrel_conf("max-connections 3")
def test_max_connections_421(petrel):
    conns = [petrel.connect() for _ in range(3)]
    try:
        c = SMTPConn(petrel.mx, greeting=False)
        r = c.read_reply()
        assert r.code == 421 and r.esc.startswith("4."), r
        c.expect_closed()
        c.close()
    finally:
        for c in conns:
            c.close()


def test_large_pipelined_batch(shared_petrel):
    """5000 pipelined commands while the client reads concurrently: all
    answered in order, nothing lost (output back-pressure)."""
    n = 5000
    c = shared_petrel.connect()
    c.ehlo()
    result = {}

    def reader():
        try:
            rs = []
            for _ in range(n):
                rs.append(c.read_reply())
            result["replies"] = rs
        except BaseException as e:
            result["error"] = e
    t = threading.Thread(target=reader)
    t.start()
    batch = b"".join((b"NOOP\r\n" if i % 2 else b"HELP\r\n")
                     for i in range(n))
    c.send(batch)
    t.join(300)
    assert not t.is_alive()
    assert "error" not in result, result.get("error")
    codes = [r.code for r in result["replies"]]
    assert codes == [214 if i % 2 == 0 else 250 for i in range(n)]
    c.quit()


def test_client_not_reading_replies(shared_petrel):
    """A client that writes a lot and never reads must not make the
    server buffer without bound or die; after the client goes away the
    server still serves others."""
    s = socket.create_connection(("127.0.0.1", shared_petrel.mx), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sent = 0
    try:
        while sent < 20 * 1024 * 1024:
            s.sendall(b"HELP\r\n" * 1000)
            sent += 6000
    except (socket.timeout, OSError):
        pass  # the server stopped reading: back-pressure works
    s.close()
    c = shared_petrel.connect()
    c.ehlo()
    c.quit()


def test_bdat_without_size_closes(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    c.send(b"BDAT\r\nNOOP\r\n")
    r = c.read_reply()
    assert r.code == 501, r
    c.expect_closed()
    c.close()


@pytest.mark.petrel_conf("max-message-size 100K")
def test_bdat_over_size_552(petrel):
    c = petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    chunk = (b"h" * 98 + b"\r\n") * 800          # 80 KB
    replies = []
    for last in (False, True):
        c.send(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"") +
               chunk)
        r = c.read_reply()
        replies.append(r)
        if r.code != 250:
            break
    bad = [r for r in replies if r.code != 250]
    assert bad and bad[0].code == 552 and bad[0].esc == "5.3.4", replies
    assert c.cmd("NOOP").code == 250
    c.quit()
    send_sentinel(petrel)
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1 and b"sentinel" in msgs[0]


def test_text_line_limit_boundary(petrel):
    """998 octets + CRLF is a legal line; 999 + CRLF is not (RFC 5321
    4.5.3.1.6, the stuffing dot not counted)."""
    ok = b"." + b"k" * 997          # 998 octets with a leading dot
    c = petrel.connect()
    c.ehlo()
    r = c.mail_transaction("s@example.org", ["demo@localhost"],
                           b"Subject: limit\r\n\r\n" + b"." + ok + b"\r\n" +
                           b"m" * 998 + b"\r\n")
    queued_id(r)
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(b"Subject: over\r\n\r\n" + b"n" * 999 + b"\r\n.\r\n")
    r = c.read_reply()
    assert r.code // 100 == 5, r
    c.quit()
    raw = petrel.wait_messages(1)[0]
    assert body_of(raw) == ok + b"\n" + b"m" * 998 + b"\n"


def test_two_messages_one_session_distinct_ids(petrel):
    c = petrel.connect()
    c.ehlo()
    ids = []
    for i in range(3):
        r = c.mail_transaction("s@example.org", ["demo@localhost"],
                               dot_stuff(make_message(subject="m%d" % i)))
        ids.append(queued_id(r))
    c.quit()
    assert len(set(ids)) == 3
    msgs = petrel.wait_messages(3)
    assert len(msgs) == 3
    for q in ids:
        assert sum(q.encode() in m for m in msgs) == 1
