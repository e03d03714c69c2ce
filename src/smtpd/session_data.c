/*
 * session_data: the content of a transaction, from DATA (RFC 5321 4.1.1.4)
 * or BDAT (RFC 3030) to the queue's 250. The queue hands the session a
 * spool file; the session writes the Received: trace header (RFC 5321
 * 4.4, RFC 3848 protocol names) and the decoded content into it, then
 * asks the queue to commit and answers 250 only after the queue says the
 * message is durable. Content errors (bare CR/LF, long lines, size) are
 * detected by proto/smtp_data while reading to the real end of the data,
 * so the session stays in step with the client.
 */
#include "smtpd/session.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "lib/log.h"
#include "proto/smtp_cmd.h"

#define SMTPD_FLUSH_AT (64u * 1024)
/*
 * RFC 5321 6.3: a message with this many Received: fields is taken to be
 * looping (Postfix's hopcount_limit is 50, Exim's 30 is lower still).
 */
#define SMTPD_MAX_HOPS 100
/*
 * Submission fixes need the end of the client's header: hold its bytes in
 * memory up to this much (then give up adding fields; a header that big
 * is not from a mail program).
 */
#define SMTPD_HOLD_HEADER (128u * 1024)

/* RFC 3848 / RFC 6531 3.7.3 protocol name for the trace header. */
static const char *
smtpd_with(const struct smtpd_session *s)
{
	bool a = s->auth_user != NULL;

	if (s->has_txn && s->txn.params.smtputf8) {
		if (s->ssl != NULL)
			return a ? "UTF8SMTPSA" : "UTF8SMTPS";
		return a ? "UTF8SMTPA" : "UTF8SMTP";
	}
	if (a && s->esmtp)
		return s->ssl ? "ESMTPSA" : "ESMTPA";
	return smtpd_protocol(s);
}

static void
smtpd_date(char *out, size_t outsz)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(out, outsz, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* Inserts p[0..n) into b at offset at (<= b->len). 0 or -1 (full). */
static int
smtpd_buf_insert(struct buf *b, size_t at, const char *p, size_t n)
{
	size_t tail = b->len - at;

	if (buf_append(b, p, n) != 0)
		return -1;
	memmove(b->data + at + n, b->data + at, tail);
	memcpy(b->data + at, p, n);
	return 0;
}

/*
 * RFC 6409 8.2 and 8.3: a message from a user's program (submission,
 * `petrel sendmail`) gets the Date: and Message-ID: fields it lacks, at
 * the end of its header section. at is the offset in s->out where they go.
 */
static void
smtpd_fix_header(struct smtpd_session *s, size_t at)
{
	char fields[512], date[64];
	size_t n = 0;

	s->fix_header = false;
	if (s->hdr.has_date && s->hdr.has_message_id)
		return;
	fields[0] = '\0';
	if (!s->hdr.has_date) {
		smtpd_date(date, sizeof(date));
		n += (size_t)snprintf(fields + n, sizeof(fields) - n,
		    "Date: %s\r\n", date);
	}
	if (!s->hdr.has_message_id)
		n += (size_t)snprintf(fields + n, sizeof(fields) - n,
		    "Message-ID: <%s@%s>\r\n", s->qid, s->rt->conf.hostname);
	if (n >= sizeof(fields) || smtpd_buf_insert(&s->out, at, fields, n) != 0)
		log_warn("session=%llx qid=%s could not add Date/Message-ID",
		    (unsigned long long)s->id, s->qid);
}

/* May the decoded content be written out now? */
static bool
smtpd_may_flush(struct smtpd_session *s)
{
	if (!s->fix_header)
		return true;
	if (s->out.len < SMTPD_HOLD_HEADER)
		return false;
	log_info("session=%llx qid=%s header over %u octets: Date/Message-ID "
	    "not checked", (unsigned long long)s->id, s->qid,
	    SMTPD_HOLD_HEADER);
	s->fix_header = false;
	return true;
}

static void
smtpd_data_flush(struct smtpd_session *s)
{
	size_t off = 0;

	while (off < s->out.len && s->write_errno == 0) {
		ssize_t n = write(s->fd, s->out.data + off, s->out.len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			s->write_errno = errno;
			break;
		}
		off += (size_t)n;
		s->written += (uint64_t)n;
	}
	buf_reset(&s->out);
}

void
smtpd_data_release(struct smtpd_session *s)
{
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
		smtpd_queue_abort(s->id);
	}
	s->qid[0] = '\0';
	s->write_errno = 0;
	s->written = 0;
	s->bdat = false;
	/* An idle session keeps no data buffer (memory per session). */
	buf_clear(&s->out);
}

/* Forgets the file without asking the queue to drop it (committed). */
static void
smtpd_data_done(struct smtpd_session *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	smtpd_data_release(s);
}

static void
smtpd_write_received(struct smtpd_session *s)
{
	const struct conf *cf = &s->rt->conf;
	char date[64];

	smtpd_date(date, sizeof(date));
	if (s->role == CONF_ROLE_LOCAL) {
		/* A local program: who ran it is what the trace can say. */
		buf_printf(&s->out, "Received: by %s (petrel, from userid "
		    "%ld)", cf->hostname, s->peer_uid);
	} else {
		if (s->auth_user != NULL && !cf->received_client)
			buf_printf(&s->out, "Received: by %s (petrel) with %s",
			    cf->hostname, smtpd_with(s));
		else
			buf_printf(&s->out, "Received: from %s ([%s])\r\n\tby "
			    "%s (petrel) with %s", s->helo, s->addr,
			    cf->hostname, smtpd_with(s));
		if (s->ssl != NULL)
			buf_printf(&s->out, " (%s)", s->tlsinfo);
		if (s->auth_user != NULL)
			buf_printf(&s->out, "\r\n\t(authenticated user %s)",
			    s->auth_user);
	}
	buf_printf(&s->out, "\r\n\tid %s", s->qid);
	if (s->txn.nrcpts == 1)
		buf_printf(&s->out, "\r\n\tfor <%s>", s->txn.rcpts[0].addr);
	buf_printf(&s->out, "; %s\r\n", date);
}

static void
smtpd_ask_create(struct smtpd_session *s)
{
	struct smtpd_queue_req req;

	req.id = s->id;
	req.txn = &s->txn;
	req.helo = s->helo;
	req.client_addr = s->addr;
	req.protocol = smtpd_with(s);
	s->wait = SMTPD_W_CREATE;
	smtpd_queue_create(&req);
}

/* The reply for a failed spool write or commit. */
static void
smtpd_reply_storage(struct smtpd_session *s, int err)
{
	if (err == ENOSPC || err == EDQUOT)
		smtpd_reply(s, "452 4.3.1 Insufficient system storage");
	else
		smtpd_reply(s, "451 4.3.0 Error: queue file write error");
}

void
smtpd_cmd_data(struct smtpd_session *s, const struct span *args)
{
	if (args->n > 0) {
		smtpd_reply_err(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (!s->has_txn) {
		smtpd_reply_err(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->bdat) {
		smtpd_reply_err(s, "503 5.5.1 Error: DATA after BDAT");
		return;
	}
	if (s->txn.nrcpts == 0) {
		/* RFC 2920 3.1: all RCPTs failed, so DATA fails. */
		smtpd_reply_err(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	smtpd_ask_create(s);
}

/* Starts discarding a chunk of size bytes, then replies with reply. */
static void
smtpd_bdat_discard(struct smtpd_session *s, uint64_t size, const char *reply)
{
	s->bdat_reject = true;
	s->bdat_left = size;
	s->bdat_reply = reply;
	s->state = SMTPD_S_BDAT;
}

void
smtpd_cmd_bdat(struct smtpd_session *s, const struct span *args)
{
	uint64_t size = 0;
	bool last = false;
	int r = smtp_bdat_parse(*args, UINT64_MAX, &size, &last);

	if (r == -1) {
		/*
		 * Without a size we cannot find the end of the chunk, and
		 * reading its bytes as commands would be SMTP smuggling.
		 */
		smtpd_close(s, "501 5.5.4 Syntax: BDAT chunk-size [LAST]; "
		    "closing connection");
		return;
	}
	if (!s->has_txn) {
		smtpd_bdat_discard(s, size, "503 5.5.1 Error: need MAIL "
		    "command");
		return;
	}
	if (s->txn.nrcpts == 0) {
		smtpd_bdat_discard(s, size, "554 5.5.1 Error: no valid "
		    "recipients");
		return;
	}
	s->bdat_left = size;
	s->bdat_last = last;
	s->bdat_reject = false;
	if (!s->bdat) {
		s->bdat = true;
		smtpd_ask_create(s);
		return;
	}
	s->state = SMTPD_S_BDAT;
}

void
smtpd_session_created(struct smtpd_session *s, int status, const char *qid,
    int fd)
{
	const struct conf *cf = &s->rt->conf;

	if (s->wait != SMTPD_W_CREATE) {
		if (fd >= 0)
			close(fd);
		return;
	}
	s->wait = SMTPD_W_NONE;
	if (s->state == SMTPD_S_CLOSING) {
		/* A last reply (timeout, shutdown) went out meanwhile. */
		if (fd >= 0)
			close(fd);
		if (status == 0)
			smtpd_queue_abort(s->id);
		return;
	}
	if (status != 0) {
		if (fd >= 0)
			close(fd);
		log_warn("session=%llx client=%s queue file: %s",
		    (unsigned long long)s->id, s->addr, strerror(status));
		if (s->bdat) {
			/* The chunk is on its way: read it, then fail. */
			smtpd_bdat_discard(s, s->bdat_left,
			    status == ENOSPC ? "452 4.3.1 Insufficient "
			    "system storage" : "451 4.3.0 Error: queue file "
			    "write error");
			s->bdat = false;
			smtpd_txn_reset(s);
		} else {
			smtpd_reply_storage(s, status);
			smtpd_txn_reset(s);
		}
		smtpd_session_input(s);
		return;
	}
	s->fd = fd;
	snprintf(s->qid, sizeof(s->qid), "%s", qid);
	s->write_errno = 0;
	s->written = 0;
	buf_reset(&s->out);
	smtpd_write_received(s);
	s->content_at = s->out.len;
	s->fix_header = s->auth_user != NULL || s->role == CONF_ROLE_LOCAL;
	smtp_data_init(&s->dec, !s->bdat, cf->max_message_size,
	    cf->max_text_line);
	rfc5322_scan_init(&s->hdr);
	if (s->bdat) {
		s->state = SMTPD_S_BDAT;
	} else {
		smtpd_reply(s, "354 End data with <CR><LF>.<CR><LF>");
		s->state = SMTPD_S_DATA;
	}
	smtpd_session_input(s);
}

/*
 * Content is complete: report a content error, or ask for the commit.
 * flags are the decoder's final flags.
 */
static void
smtpd_content_end(struct smtpd_session *s, unsigned flags)
{
	const struct conf *cf = &s->rt->conf;
	const char *why = NULL;

	if (s->fix_header && !(flags & SMTP_DATA_ERRORS)) {
		/* No empty line: the whole content is header. */
		if (s->out.len > s->content_at &&
		    (s->out.len < 2 || memcmp(s->out.data + s->out.len - 2,
		    "\r\n", 2) != 0))
			(void)buf_append(&s->out, "\r\n", 2);
		smtpd_fix_header(s, s->out.len);
	}
	smtpd_data_flush(s);
	s->state = SMTPD_S_CMD;
	if (flags & (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR))
		why = "bare-newline";
	else if (flags & SMTP_DATA_TOO_BIG)
		why = "size";
	else if (flags & SMTP_DATA_LONG_LINE)
		why = "line-length";
	else if (s->write_errno != 0 || (flags & SMTP_DATA_OUTFULL))
		why = "write";
	else if (s->hdr.received >= SMTPD_MAX_HOPS)
		why = "loop";
	if (why != NULL) {
		log_info("session=%llx client=%s qid=%s reject reason=%s%s%s",
		    (unsigned long long)s->id, s->addr, s->qid, why,
		    s->write_errno ? " error=" : "",
		    s->write_errno ? strerror(s->write_errno) : "");
		if (flags & (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR))
			smtpd_reply_err(s, "550 5.5.2 Error: bare CR or LF in "
			    "message; lines must end with CRLF");
		else if (flags & SMTP_DATA_TOO_BIG)
			smtpd_reply_err(s, "552 5.3.4 Message size exceeds "
			    "fixed limit of %llu octets",
			    (unsigned long long)cf->max_message_size);
		else if (flags & SMTP_DATA_LONG_LINE)
			smtpd_reply_err(s, "500 5.5.6 Error: message line "
			    "longer than %u octets", cf->max_text_line);
		else if (s->write_errno == 0 && !(flags & SMTP_DATA_OUTFULL))
			smtpd_reply(s, "554 5.4.6 Error: too many hops (%u "
			    "Received: fields); mail loop?", s->hdr.received);
		else
			smtpd_reply_storage(s, s->write_errno);
		smtpd_txn_reset(s);
		return;
	}
	/* The file is the queue's from now on: keep no way to change it. */
	close(s->fd);
	s->fd = -1;
	s->wait = SMTPD_W_COMMIT;
	smtpd_queue_commit(s->id);
}

/*
 * Shows the header scanner what the decoder appended after before; when
 * the header has just ended, adds missing fields there.
 */
static void
smtpd_scan_header(struct smtpd_session *s, size_t before)
{
	if (s->hdr.in_body || s->out.len <= before)
		return;
	rfc5322_scan_feed(&s->hdr, s->out.data + before, s->out.len - before);
	/* Nothing of the header was written out yet (smtpd_may_flush). */
	if (s->hdr.in_body && s->fix_header)
		smtpd_fix_header(s, (size_t)(s->content_at + s->hdr.header_len -
		    s->written));
}

bool
smtpd_data_input(struct smtpd_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_iovec vec[8];
	int nvec, i;
	size_t total = 0;

	nvec = evbuffer_peek(in, -1, NULL, vec, 8);
	if (nvec <= 0)
		return false;
	if (nvec > 8)
		nvec = 8;
	for (i = 0; i < nvec; i++) {
		size_t used = 0, before = s->out.len;
		int r = smtp_data_feed(&s->dec, vec[i].iov_base,
		    vec[i].iov_len, &used, &s->out);

		smtpd_scan_header(s, before);
		total += used;
		if (s->out.len >= SMTPD_FLUSH_AT && smtpd_may_flush(s))
			smtpd_data_flush(s);
		if (r == 1) {
			evbuffer_drain(in, total);
			smtpd_content_end(s, s->dec.flags);
			return true;
		}
	}
	evbuffer_drain(in, total);
	return evbuffer_get_length(in) > 0;
}

bool
smtpd_bdat_input(struct smtpd_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_iovec vec[8];
	int nvec, i;
	size_t total = 0;

	if (s->bdat_left > 0) {
		nvec = evbuffer_peek(in, -1, NULL, vec, 8);
		if (nvec <= 0)
			return false;
		if (nvec > 8)
			nvec = 8;
		for (i = 0; i < nvec && s->bdat_left > 0; i++) {
			size_t n = vec[i].iov_len, used = 0;

			if (n > s->bdat_left)
				n = (size_t)s->bdat_left;
			if (!s->bdat_reject) {
				size_t before = s->out.len;
				(void)smtp_data_feed(&s->dec, vec[i].iov_base,
				    n, &used, &s->out);
				smtpd_scan_header(s, before);
			}
			s->bdat_left -= n;
			total += n;
			if (s->out.len >= SMTPD_FLUSH_AT && smtpd_may_flush(s))
				smtpd_data_flush(s);
		}
		evbuffer_drain(in, total);
		if (s->bdat_left > 0)
			return evbuffer_get_length(in) > 0;
	}
	/* The whole chunk is in. */
	s->state = SMTPD_S_CMD;
	if (s->bdat_reject) {
		s->bdat_reject = false;
		smtpd_reply_err(s, "%s", s->bdat_reply);
		return true;
	}
	if (s->bdat_last) {
		smtpd_content_end(s, smtp_data_finish(&s->dec));
		return true;
	}
	if (smtpd_may_flush(s))
		smtpd_data_flush(s);
	if ((s->dec.flags & SMTP_DATA_ERRORS) || s->write_errno != 0) {
		/* Fail early; later chunks of this transaction get 503. */
		smtpd_content_end(s, s->dec.flags);
		return true;
	}
	smtpd_reply(s, "250 2.0.0 Ok: %llu octets received",
	    (unsigned long long)s->dec.size);
	return true;
}

void
smtpd_session_committed(struct smtpd_session *s, int status)
{
	char from[300];

	if (s->wait != SMTPD_W_COMMIT)
		return;
	s->wait = SMTPD_W_NONE;
	if (s->state == SMTPD_S_CLOSING)
		return;		/* the client was told goodbye already */
	if (status != 0) {
		log_warn("session=%llx client=%s qid=%s commit failed: %s",
		    (unsigned long long)s->id, s->addr, s->qid,
		    strerror(status));
		smtpd_data_done(s);
		smtpd_reply_storage(s, status);
	} else {
		log_escape(s->txn.from_addr, strlen(s->txn.from_addr), from,
		    sizeof(from));
		log_info("session=%llx client=%s helo=%s qid=%s from=<%s> "
		    "size=%llu nrcpt=%u proto=%s%s%s%s",
		    (unsigned long long)s->id, s->addr, s->helo, s->qid, from,
		    (unsigned long long)s->written, s->txn.nrcpts,
		    smtpd_with(s),
		    s->txn.params.requiretls ? " requiretls=yes" : "",
		    s->ssl ? " tls=" : "",
		    s->ssl ? s->tlsinfo : "");
		smtpd_reply(s, "250 2.0.0 Ok: queued as %s", s->qid);
		s->messages++;
		smtpd_data_done(s);
	}
	smtpd_txn_reset(s);
	if (s->srv->stopping) {
		smtpd_close(s, "421 4.3.2 %s Service shutting down",
		    s->rt->conf.hostname);
		return;
	}
	smtpd_session_input(s);
}
