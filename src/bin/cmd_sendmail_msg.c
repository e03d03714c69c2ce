/*
 * cmd_sendmail_msg: the message of `petrel sendmail`, from stdin into an
 * unlinked temporary file, as it will be sent (before dot-stuffing):
 * line ends made CRLF, the input ended by a lone "." unless -i, the
 * header buffered to take recipients (-t), drop Bcc:, add From:. See
 * cmd_sendmail.c for the decisions.
 *
 * Three layers, one octet at a time: sendmail_input() (stdin: line ends,
 * the lone dot), sendmail_byte() (the header state machine on CRLF
 * lines), sendmail_out() (the file, with the size limit). The header
 * state machine classifies each line by its first octets as Postfix's
 * cleanup does: a field name and ':' (RFC 5322 3.6.8 ftext, optional
 * WSP before the colon as in obs-optional), a continuation (WSP), the
 * empty line, or anything else, which ends the header.
 *
 * Limits: the header is held in memory up to SENDMAIL_HEADER_MAX octets;
 * a field name longer than SENDMAIL_NAME_MAX octets is not a name; the
 * whole message is at most the configured max-message-size.
 */
#include "bin/cmd_sendmail.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "lib/fsio.h"
#include "lib/utf8.h"
#include "lib/xalloc.h"
#include "proto/base64.h"

#define SENDMAIL_HEADER_MAX   (1024u * 1024) /* octets of header held */
#define SENDMAIL_NAME_MAX     998 /* a longer "name:" is not a field */
#define SENDMAIL_FULLNAME_MAX 256 /* octets of -F or gecos name used */

/* ---------------------------------------------------------------------
 * The added From: field
 */

/* The full name made safe for a header: no controls, trimmed, bounded. */
static void
sendmail_clean_name(const char *in, struct buf *out)
{
	size_t n = strlen(in), i, end;

	while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	for (i = 0; i < n && (in[i] == ' ' || in[i] == '\t'); i++)
		;
	end = n;
	if (end - i > SENDMAIL_FULLNAME_MAX)
		end = i + SENDMAIL_FULLNAME_MAX;
	while (i < end) {
		unsigned char c = (unsigned char)in[i];
		size_t k = 1;

		if (c >= 0x80) {
			k = utf8_seq_len(
			    (const unsigned char *)in + i, end - i);
			if (k == 0) {
				(void)buf_putc(out, '?');
				i++;
				continue;
			}
			(void)buf_append(out, in + i, k);
		} else {
			(void)buf_putc(out, c < 32 || c == 127 ? ' ' : (char)c);
		}
		i += k;
	}
}

/*
 * A display name (RFC 5322 3.4 phrase): atoms as they are, other ASCII as
 * a quoted-string, non-ASCII as RFC 2047 "B" encoded words of at most 45
 * octets each (75 characters), folded between words.
 */
static void
sendmail_put_phrase(struct buf *out, const char *name)
{
	size_t n = strlen(name), i;
	bool atoms = true, ascii = true;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c >= 0x80)
			ascii = false;
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == ' ' ||
			     strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL))
			atoms = false;
	}
	if (ascii && atoms) {
		(void)buf_puts(out, name);
	} else if (ascii) {
		(void)buf_putc(out, '"');
		for (i = 0; i < n; i++) {
			if (name[i] == '"' || name[i] == '\\')
				(void)buf_putc(out, '\\');
			(void)buf_putc(out, name[i]);
		}
		(void)buf_putc(out, '"');
	} else {
		char enc[64];

		for (i = 0; i < n;) {
			size_t k = 0;

			/* Whole UTF-8 characters, 45 octets at most. */
			while (i + k < n) {
				size_t c =
				    (unsigned char)name[i + k] < 0x80
					? 1
					: utf8_seq_len(
					      (const unsigned char *)name + i +
						  k,
					      n - i - k);
				if (c == 0)
					c = 1;
				if (k + c > 45)
					break;
				k += c;
			}
			if (k == 0)
				break; /* cannot happen: a character is <= 4 */
			if (i > 0)
				(void)buf_puts(out, "\r\n ");
			(void)base64_encode(name + i, k, enc);
			(void)buf_printf(out, "=?UTF-8?B?%s?=", enc);
			i += k;
		}
	}
}

/* "From: NAME <sender>\r\n" (see the file comment for NAME). */
static void
sendmail_from_field(struct sendmail *sm, struct buf *out)
{
	const char *raw =
	    sm->full_name != NULL ? sm->full_name : sm->gecos_name;
	struct buf name;
	char null_from[SENDMAIL_ADDR_MAX];
	const char *addr = sm->sender;

	if (addr[0] == '\0') {
		if (snprintf(null_from, sizeof(null_from), "MAILER-DAEMON@%s",
			sm->hostname) >= (int)sizeof(null_from))
			null_from[0] = '\0';
		addr = null_from;
	}
	buf_init(&name, 4 * SENDMAIL_FULLNAME_MAX);
	if (raw != NULL)
		sendmail_clean_name(raw, &name);
	(void)buf_puts(out, "From: ");
	if (name.len > 0) {
		sendmail_put_phrase(out, buf_str(&name));
		(void)buf_printf(out, " <%s>\r\n", addr);
	} else {
		(void)buf_printf(out, "%s\r\n", addr);
	}
	buf_clear(&name);
}

/* ---------------------------------------------------------------------
 * The message: stdin -> normaliser -> header -> temporary file
 */

static int
sendmail_tmpfile(void)
{
	const char *dir = getenv("TMPDIR");
	char path[PATH_MAX];
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		sendmail_die(EX_TEMPFAIL,
		    "cannot create a temporary file in %s: %s", dir,
		    strerror(errno));
	/* No O_TMPFILE here: a named file, unlinked at once. */
	if ((fd = fsio_mktemp(dir, "petrel-sendmail.", path,
	    sizeof(path))) < 0)
		sendmail_die(EX_TEMPFAIL,
		    "cannot create a temporary file in %s: %s", dir,
		    strerror(errno));
	(void)unlink(path);
	return fd;
}

static void
sendmail_out_flush(struct sendmail *sm)
{
	if (sm->out.len == 0)
		return;
	if (fsio_write_all(sm->fd, sm->out.data, sm->out.len) != 0)
		sendmail_die(EX_TEMPFAIL, "cannot write the temporary file: %s",
		    strerror(errno));
	buf_reset(&sm->out);
}

/* Appends to the message as it will be sent. */
static void
sendmail_out(struct sendmail *sm, const char *p, size_t n)
{
	if (sm->max_size - sm->size < n)
		sendmail_die(EX_DATAERR,
		    "message too large: more than %llu octets "
		    "(max-message-size)",
		    (unsigned long long)sm->max_size);
	sm->size += n;
	if (buf_append(&sm->out, p, n) != 0) {
		sendmail_out_flush(sm);
		if (n >= SENDMAIL_CHUNK) {
			if (fsio_write_all(sm->fd, p, n) != 0)
				sendmail_die(EX_TEMPFAIL,
				    "cannot write the temporary file: %s",
				    strerror(errno));
			return;
		}
		(void)buf_append(&sm->out, p, n);
	}
	if (sm->out.len >= SENDMAIL_CHUNK)
		sendmail_out_flush(sm);
}

static bool
sendmail_name_is(
    const struct sendmail *sm, const struct sendmail_field *f, const char *lit)
{
	return span_eq_ci(span_make(sm->hdr.data + f->off, f->name_len), lit);
}

/*
 * The header is complete (hdr holds whole field lines): take recipients
 * (-t), write it without Bcc:, add From:, and the empty line when blank.
 */
static void
sendmail_header_done(struct sendmail *sm, bool blank)
{
	static const char *const plain[] = {"to", "cc", "bcc"};
	static const char *const resent[] = {
	    "resent-to", "resent-cc", "resent-bcc"};
	const char *const *want = plain;
	bool has_from = false, is_resent = false;
	size_t i, k;

	sm->hstate = SENDMAIL_H_BODY;
	for (i = 0; i < sm->nfields; i++) {
		const struct sendmail_field *f = &sm->fields[i];

		if (span_prefix_ci(
			span_make(sm->hdr.data + f->off, f->name_len),
			"resent-"))
			is_resent = true;
		if (sendmail_name_is(sm, f, "from"))
			has_from = true;
	}
	if (is_resent)
		want = resent;
	for (i = 0; i < sm->nfields; i++) {
		const struct sendmail_field *f = &sm->fields[i];
		size_t end =
		    i + 1 < sm->nfields ? sm->fields[i + 1].off : sm->hdr.len;
		bool bcc = sendmail_name_is(sm, f, "bcc") ||
			   sendmail_name_is(sm, f, "resent-bcc");

		for (k = 0; k < 3 && sm->extract; k++) {
			char what[64];

			if (!sendmail_name_is(sm, f, want[k]))
				continue;
			(void)snprintf(what, sizeof(what), "the %.*s: field",
			    (int)f->name_len, sm->hdr.data + f->off);
			sendmail_rcpt_list(sm,
			    span_make(sm->hdr.data + f->value_off,
				end - f->value_off),
			    what, EX_DATAERR);
		}
		if (bcc)
			continue;
		for (k = f->off; k < end && !sm->hdr_8bit; k++)
			if ((unsigned char)sm->hdr.data[k] >= 0x80)
				sm->hdr_8bit = true;
		sendmail_out(sm, sm->hdr.data + f->off, end - f->off);
	}
	if (!has_from) {
		struct buf from;

		buf_init(&from, 8192);
		sendmail_from_field(sm, &from);
		sendmail_out(sm, from.data, from.len);
		buf_clear(&from);
	}
	if (blank)
		sendmail_out(sm, "\r\n", 2);
	buf_clear(&sm->hdr);
}

/* Drops the current line from the header buffer. */
static void
sendmail_hdr_cut(struct sendmail *sm)
{
	if (sm->hdr.data != NULL) {
		sm->hdr.len = sm->line_start;
		sm->hdr.data[sm->hdr.len] = '\0'; /* keep buf's invariant */
	}
}

/*
 * The current line is not a header field: the header ends before it and
 * the line so far (hdr from line_start) plus c starts the body.
 */
static void
sendmail_header_not_field(struct sendmail *sm, unsigned char c)
{
	char part[SENDMAIL_NAME_MAX + 8];
	size_t n = sm->hdr.len - sm->line_start;

	if (n > sizeof(part))
		abort(); /* names and their WSP are capped below that */
	if (n > 0)
		memcpy(part, sm->hdr.data + sm->line_start, n);
	sendmail_hdr_cut(sm);
	sendmail_header_done(sm, true);
	sendmail_out(sm, part, n);
	sendmail_out(sm, (const char *)&c, 1);
}

static void
sendmail_hdr_put(struct sendmail *sm, unsigned char c)
{
	if (buf_putc(&sm->hdr, (char)c) != 0)
		sendmail_die(EX_DATAERR,
		    "message header too large (more than %u octets)",
		    SENDMAIL_HEADER_MAX);
}

static bool
sendmail_is_ftext(unsigned char c)
{
	/* ftext = %d33-57 / %d59-126 (RFC 5322 3.6.8) */
	return c >= 33 && c <= 126 && c != ':';
}

/* A ':' after a name: one more field. */
static void
sendmail_field_start(struct sendmail *sm, size_t name_len)
{
	struct sendmail_field *f;

	if (sm->nfields == sm->fields_cap) {
		sm->fields_cap = sm->fields_cap ? 2 * sm->fields_cap : 32;
		sm->fields = xreallocarray(
		    sm->fields, sm->fields_cap, sizeof(*sm->fields));
	}
	f = &sm->fields[sm->nfields++];
	f->off = sm->line_start;
	f->name_len = name_len;
	f->value_off = sm->hdr.len;
}

/* One octet of the normalised message (CRLF line ends). */
static void
sendmail_byte(struct sendmail *sm, unsigned char c)
{
	size_t line;

	if (c >= 0x80)
		sm->eightbit = true;
	switch (sm->hstate) {
	case SENDMAIL_H_BODY:
		sendmail_out(sm, (const char *)&c, 1);
		return;
	case SENDMAIL_H_BOL:
		sm->line_start = sm->hdr.len;
		if (c == '\r') {
			sm->hstate = SENDMAIL_H_EMPTY_CR;
		} else if ((c == ' ' || c == '\t') && sm->nfields > 0) {
			sendmail_hdr_put(sm, c); /* folded field */
			sm->hstate = SENDMAIL_H_FIELD;
		} else if (sendmail_is_ftext(c)) {
			sendmail_hdr_put(sm, c);
			sm->hstate = SENDMAIL_H_NAME;
		} else {
			sendmail_header_not_field(sm, c);
		}
		return;
	case SENDMAIL_H_EMPTY_CR:
		/* The normaliser always sends CR LF. */
		sendmail_header_done(sm, true);
		return;
	case SENDMAIL_H_NAME:
		line = sm->hdr.len - sm->line_start;
		if (c == ':') {
			sendmail_hdr_put(sm, c);
			sendmail_field_start(sm, line);
			sm->hstate = SENDMAIL_H_FIELD;
		} else if (c == ' ' && sm->first_line && line == 4 &&
			   memcmp(sm->hdr.data + sm->line_start, "From", 4) ==
			       0) {
			/* The mbox "From " line: dropped. */
			sendmail_hdr_cut(sm);
			sm->hstate = SENDMAIL_H_SKIP;
		} else if (sendmail_is_ftext(c) && line < SENDMAIL_NAME_MAX) {
			sendmail_hdr_put(sm, c);
		} else if ((c == ' ' || c == '\t') &&
			   line < SENDMAIL_NAME_MAX) {
			sendmail_hdr_put(sm, c);
			sm->hstate = SENDMAIL_H_NAME_WSP;
		} else {
			sendmail_header_not_field(sm, c);
		}
		return;
	case SENDMAIL_H_NAME_WSP:
		line = sm->hdr.len - sm->line_start;
		if (c == ':') {
			size_t name = line;

			while (
			    name > 0 &&
			    (sm->hdr.data[sm->line_start + name - 1] == ' ' ||
				sm->hdr.data[sm->line_start + name - 1] ==
				    '\t'))
				name--;
			sendmail_hdr_put(sm, c);
			sendmail_field_start(sm, name);
			sm->hstate = SENDMAIL_H_FIELD;
		} else if ((c == ' ' || c == '\t') &&
			   line < SENDMAIL_NAME_MAX) {
			sendmail_hdr_put(sm, c);
		} else {
			sendmail_header_not_field(sm, c);
		}
		return;
	case SENDMAIL_H_FIELD:
		sendmail_hdr_put(sm, c);
		if (c == '\n') {
			sm->hstate = SENDMAIL_H_BOL;
			sm->first_line = false;
		}
		return;
	case SENDMAIL_H_SKIP:
		if (c == '\n') {
			sm->hstate = SENDMAIL_H_BOL;
			sm->first_line = false;
		}
		return;
	}
}

/* A line end of the input: CRLF out, or the end at a lone ".". */
static void
sendmail_line_end(struct sendmail *sm)
{
	if (sm->dot) {
		sm->dot = false;
		sm->done = true;
		sm->at_bol = true; /* the "." line is not part of the message */
		return;
	}
	sendmail_byte(sm, '\r');
	sendmail_byte(sm, '\n');
	sm->at_bol = true;
}

/*
 * One octet of stdin. Line ends: CR* LF, and CR+ before anything else
 * (see the file comment). Without -i a line "." ends the input; its dot
 * is held back until the next octet shows whether it is alone.
 */
static void
sendmail_input(struct sendmail *sm, unsigned char c)
{
	if (sm->cr) {
		if (c == '\r')
			return;
		sm->cr = false;
		sendmail_line_end(sm);
		if (c == '\n' || sm->done)
			return;
	}
	if (c == '\r') {
		sm->cr = true;
		return;
	}
	if (c == '\n') {
		sendmail_line_end(sm);
		return;
	}
	if (sm->at_bol && c == '.' && !sm->ignore_dots) {
		sm->at_bol = false;
		sm->dot = true;
		return;
	}
	if (sm->dot) {
		sm->dot = false;
		sendmail_byte(sm, '.');
	}
	sm->at_bol = false;
	sendmail_byte(sm, c);
}

void
sendmail_read_message(struct sendmail *sm)
{
	char chunk[SENDMAIL_CHUNK];
	ssize_t n, i;

	sm->fd = sendmail_tmpfile();
	buf_init(&sm->out, 2 * SENDMAIL_CHUNK);
	buf_init(&sm->hdr, SENDMAIL_HEADER_MAX);
	sm->hstate = SENDMAIL_H_BOL;
	sm->at_bol = true;
	sm->first_line = true;
	while (!sm->done) {
		n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			sendmail_die(EX_IOERR, "reading the message: %s",
			    strerror(errno));
		if (n == 0)
			break;
		for (i = 0; i < n && !sm->done; i++)
			sendmail_input(sm, (unsigned char)chunk[i]);
	}
	/* End of input: pending CRs are a line end, "." alone ends it. */
	if (!sm->done && sm->cr) {
		sm->cr = false;
		sendmail_line_end(sm);
	}
	if (!sm->done && sm->dot) {
		sm->dot = false; /* "." at the very end, no line end */
		sm->done = true;
		sm->at_bol = true;
	}
	if (!sm->at_bol)
		sendmail_line_end(sm); /* a final CRLF when missing */
	if (sm->hstate != SENDMAIL_H_BODY)
		sendmail_header_done(sm, false);
	sendmail_out_flush(sm);
	buf_clear(&sm->out);
	free(sm->fields);
	sm->fields = NULL;
}
