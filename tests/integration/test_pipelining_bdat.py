"""PIPELINING (RFC 2920) and CHUNKING/BDAT (RFC 3030)."""
from conftest import body_of, dot_stuff, make_message, queued_id, \
    send_sentinel


def test_pipelined_transaction(petrel):
    c = petrel.connect()
    c.send(b"EHLO client.test\r\n"
           b"MAIL FROM:<sender@example.org>\r\n"
           b"RCPT TO:<demo@localhost>\r\n"
           b"RCPT TO:<nobody@localhost>\r\n"
           b"RCPT TO:<alice@example.test>\r\n"
           b"DATA\r\n")
    r = c.read_reply(esc=False)
    assert r.code == 250 and len(r.lines) > 1, r
    replies = c.read_replies(5)
    assert [x.code for x in replies] == [250, 250, 550, 250, 354], replies
    assert replies[2].esc == "5.1.1", replies[2]
    c.send(dot_stuff(make_message(subject="pipelined")) + b".\r\n")
    qid = queued_id(c.read_reply())
    c.quit()
    for dom, user in (("localhost", "demo"), ("example.test", "alice")):
        msgs = petrel.wait_messages(1, dom, user)
        assert len(msgs) == 1
        assert qid.encode() in msgs[0]
        assert b"Subject: pipelined" in msgs[0]


def test_pipelined_two_messages_and_quit(petrel):
    """Two whole transactions and QUIT in one write (a client may pipeline
    past DATA's end)."""
    c = petrel.connect()
    c.ehlo()
    blob = b""
    for i in (1, 2):
        blob += (b"MAIL FROM:<s@example.org>\r\nRCPT TO:<demo@localhost>\r\n"
                 b"DATA\r\n")
        blob += dot_stuff(make_message(subject="pipe %d" % i)) + b".\r\n"
    blob += b"QUIT\r\n"
    c.send(blob)
    codes = [c.read_reply().code for _ in range(9)]
    assert codes == [250, 250, 354, 250, 250, 250, 354, 250, 221], codes
    c.expect_closed()
    msgs = petrel.wait_messages(2)
    assert len(msgs) == 2
    subjects = sorted(m.split(b"Subject: ")[1].split(b"\n")[0] for m in msgs)
    assert subjects == [b"pipe 1", b"pipe 2"]


def test_pipelined_all_rcpts_fail_data_rejected(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    c.send(b"MAIL FROM:<s@example.org>\r\n"
           b"RCPT TO:<nobody@localhost>\r\n"
           b"DATA\r\n")
    replies = c.read_replies(3)
    assert [r.code for r in replies[:2]] == [250, 550], replies
    assert replies[2].code in (503, 554), replies
    # The session is still in command mode.
    assert c.cmd("NOOP").code == 250
    c.quit()


# ---- BDAT ----

def bdat_start(c):
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    assert c.cmd("RCPT TO:<demo@localhost>").code == 250


def test_bdat_chunks(petrel):
    c = petrel.connect()
    bdat_start(c)
    msg = make_message(subject="chunks", body="part one\r\npart two\r\n"
                       "part three\r\n")
    chunks = [msg[:17], msg[17:60], msg[60:]]
    for ch in chunks[:-1]:
        c.send(b"BDAT %d\r\n" % len(ch) + ch)
        r = c.read_reply()
        assert r.code == 250, r
    c.send(b"BDAT %d LAST\r\n" % len(chunks[-1]) + chunks[-1])
    qid = queued_id(c.read_reply())
    c.quit()
    raw = petrel.wait_messages(1)[0]
    assert qid.encode() in raw
    assert body_of(raw) == b"part one\npart two\npart three\n"
    # The whole message arrived intact (CRLF -> LF in the Maildir).
    assert raw.endswith(msg.replace(b"\r\n", b"\n"))


def test_bdat_pipelined(petrel):
    c = petrel.connect()
    msg = make_message(subject="bdat pipelined", body="a\r\nb\r\n")
    half = len(msg) // 2
    c.send(b"EHLO client.test\r\n"
           b"MAIL FROM:<s@example.org>\r\n"
           b"RCPT TO:<demo@localhost>\r\n" +
           b"BDAT %d\r\n" % half + msg[:half] +
           b"BDAT %d LAST\r\n" % (len(msg) - half) + msg[half:] +
           b"QUIT\r\n")
    assert c.read_reply(esc=False).code == 250
    replies = c.read_replies(5)
    assert [r.code for r in replies] == [250, 250, 250, 250, 221], replies
    queued_id(replies[3])
    c.expect_closed()
    raw = petrel.wait_messages(1)[0]
    assert b"Subject: bdat pipelined" in raw
    assert body_of(raw) == b"a\nb\n"


def test_bdat_zero_last(petrel):
    c = petrel.connect()
    bdat_start(c)
    msg = make_message(subject="zero last")
    c.send(b"BDAT %d\r\n" % len(msg) + msg)
    assert c.read_reply().code == 250
    c.send(b"BDAT 0 LAST\r\n")
    queued_id(c.read_reply())
    c.quit()
    raw = petrel.wait_messages(1)[0]
    assert b"Subject: zero last" in raw


def test_bdat_without_mail_chunk_consumed(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    chunk = b"HELP\r\nRSET\r\nVRFY x\r\n"
    c.send(b"BDAT %d\r\n" % len(chunk) + chunk)
    r = c.read_reply()
    assert r.code == 503, r
    # The chunk's bytes were not executed: the next reply is NOOP's.
    c.send(b"NOOP\r\nQUIT\r\n")
    r = c.read_reply()
    assert r.code == 250 and r.esc == "2.0.0", r
    r = c.read_reply()
    assert r.code == 221, r
    c.expect_closed()


def test_bdat_without_rcpt_chunk_consumed(shared_petrel):
    c = shared_petrel.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.org>").code == 250
    chunk = b"HELP\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
    r = c.read_reply()
    assert r.code in (503, 554), r
    r = c.cmd("NOOP")
    assert r.code == 250 and r.esc == "2.0.0", r
    c.quit()


def test_bdat_dots_not_unstuffed(petrel):
    c = petrel.connect()
    bdat_start(c)
    msg = make_message(subject="dots", body="..two dots\r\n.one dot\r\n"
                       ".\r\nafter a lone dot\r\n")
    c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
    queued_id(c.read_reply())
    c.quit()
    raw = petrel.wait_messages(1)[0]
    assert body_of(raw) == b"..two dots\n.one dot\n.\nafter a lone dot\n"


def test_bdat_binary_safe_crlf_content(petrel):
    """A chunk containing what looks like an SMTP dialogue is content."""
    c = petrel.connect()
    bdat_start(c)
    body = ("\r\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<demo@localhost>\r\n"
            "DATA\r\n")
    msg = make_message(subject="dialogue in chunk", body=body)
    c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
    queued_id(c.read_reply())
    r = c.cmd("NOOP")
    assert r.code == 250 and r.esc == "2.0.0", r
    c.quit()
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1
    assert b"MAIL FROM:<evil@x>" in msgs[0]


def test_data_after_bdat_rejected(shared_petrel):
    c = shared_petrel.connect()
    bdat_start(c)
    msg = make_message(subject="mixed")
    c.send(b"BDAT %d\r\n" % len(msg) + msg)
    assert c.read_reply().code == 250
    r = c.cmd("DATA")
    assert r.code == 503, r
    c.send(b"BDAT 0 LAST\r\n")
    queued_id(c.read_reply())
    c.quit()


def test_bdat_bare_lf_rejected(petrel):
    c = petrel.connect()
    bdat_start(c)
    msg = make_message(subject="bare lf in bdat", body="one\ntwo\r\n")
    c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
    r = c.read_reply()
    assert r.code == 550 and r.esc == "5.5.2", r
    assert c.cmd("NOOP").code == 250
    c.quit()
    send_sentinel(petrel)
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1 and b"Subject: sentinel" in msgs[0]


def test_bdat_rset_aborts(petrel):
    c = petrel.connect()
    bdat_start(c)
    msg = make_message(subject="aborted by rset")
    c.send(b"BDAT %d\r\n" % len(msg) + msg)
    assert c.read_reply().code == 250
    assert c.cmd("RSET").code == 250
    c.send(b"BDAT 0 LAST\r\n")
    r = c.read_reply()
    assert r.code == 503, r
    c.quit()
    send_sentinel(petrel)
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1 and b"Subject: sentinel" in msgs[0]
    assert not petrel.queue_files()
