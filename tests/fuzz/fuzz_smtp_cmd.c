/*
 * fuzz_smtp_cmd: libFuzzer target for proto/smtp_cmd. The input is one
 * command line (without CRLF). It is split with smtp_cmd_parse, and both
 * the whole line and the arguments go through smtp_helo_check and
 * smtp_bdat_parse. Checked: args lie inside the line after the first SP
 * with no trailing SP/TAB, the verb matches its name, an accepted HELO
 * argument only holds allowed bytes and strictly valid UTF-8 (checked here
 * by an independent decoder), and an accepted BDAT size prints back to the
 * same number.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/span.h"
#include "proto/smtp_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CMD_CHECK(x)                                                      \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

static void
fuzz_cmd_parse(const char *p, size_t n)
{
	struct smtp_cmd cmd;
	const char *sp = n > 0 ? memchr(p, ' ', n) : NULL;
	size_t vlen = sp != NULL ? (size_t)(sp - p) : n;

	FUZZ_CMD_CHECK(smtp_cmd_parse(span_make(p, n), &cmd) == 0);
	FUZZ_CMD_CHECK(cmd.has_args == (sp != NULL));
	FUZZ_CMD_CHECK(cmd.args.p != NULL);
	if (cmd.args.n > 0) {
		FUZZ_CMD_CHECK(cmd.args.p == sp + 1);
		FUZZ_CMD_CHECK(cmd.args.p + cmd.args.n <= p + n);
		FUZZ_CMD_CHECK(cmd.args.p[cmd.args.n - 1] != ' ' &&
			       cmd.args.p[cmd.args.n - 1] != '\t');
	} else if (sp != NULL) {
		size_t i;

		for (i = vlen + 1; i < n; i++)
			FUZZ_CMD_CHECK(p[i] == ' ' || p[i] == '\t');
	}
	if (cmd.verb != SMTP_VERB_UNKNOWN)
		FUZZ_CMD_CHECK(
		    span_eq_ci(span_make(p, vlen), smtp_verb_name(cmd.verb)));
	else
		FUZZ_CMD_CHECK(strcmp(smtp_verb_name(cmd.verb), "?") == 0);
}

/*
 * Independent UTF-8 check: decode the code point, then insist on the
 * shortest form, no surrogates, <= U+10FFFF and >= U+00A0. Returns the
 * sequence length or 0.
 */
static size_t
fuzz_cmd_utf8(const unsigned char *p, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1fu;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0fu;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07u;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000))
		return 0;
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || cp < 0xa0)
		return 0;
	return len;
}

static void
fuzz_cmd_helo(const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i;

	if (smtp_helo_check(span_make(p, n)) != 0)
		return;
	FUZZ_CMD_CHECK(n > 0);
	if (u[0] == '[') {
		/* "[" IPv4 "]" or "[IPv6:" ... "]": no more than that. */
		FUZZ_CMD_CHECK(n >= 9 && u[n - 1] == ']');
		FUZZ_CMD_CHECK(n <= 6 + 45 + 1);
		for (i = 1; i + 1 < n; i++)
			FUZZ_CMD_CHECK(u[i] > ' ' && u[i] < 0x7f &&
				       u[i] != '[' && u[i] != ']');
		return;
	}
	FUZZ_CMD_CHECK(n <= 256);
	FUZZ_CMD_CHECK(u[0] != '.' && u[0] != '-');
	for (i = 0; i < n;) {
		if (u[i] >= 0x80) {
			size_t len = fuzz_cmd_utf8(u + i, n - i);

			FUZZ_CMD_CHECK(len > 0);
			i += len;
			continue;
		}
		FUZZ_CMD_CHECK((u[i] >= 'a' && u[i] <= 'z') ||
			       (u[i] >= 'A' && u[i] <= 'Z') ||
			       (u[i] >= '0' && u[i] <= '9') || u[i] == '-' ||
			       u[i] == '_' || u[i] == '.');
		if (u[i] == '.')
			FUZZ_CMD_CHECK(i + 1 == n || u[i + 1] != '.');
		i++;
	}
}

static void
fuzz_cmd_bdat(const char *p, size_t n, uint64_t max)
{
	uint64_t sz = 1;
	bool last = true;
	int r = smtp_bdat_parse(span_make(p, n), max, &sz, &last);
	char text[40];
	int len;

	FUZZ_CMD_CHECK(r == 0 || r == -1 || r == -2);
	if (r == -1) {
		FUZZ_CMD_CHECK(sz == 0 && !last);
		return;
	}
	if (r == -2) {
		/* UINT64_MAX also stands for "does not fit in 64 bits". */
		FUZZ_CMD_CHECK(sz > max || sz == UINT64_MAX);
		return;
	}
	FUZZ_CMD_CHECK(sz <= max);
	/* The digits, without leading zeros, print back the same. */
	len = snprintf(text, sizeof(text), "%llu%s", (unsigned long long)sz,
	    last ? " LAST" : "");
	FUZZ_CMD_CHECK(len > 0 && (size_t)len <= n);
	while (n > (size_t)len && p[0] == '0') {
		p++;
		n--;
	}
	FUZZ_CMD_CHECK((size_t)len == n);
	FUZZ_CMD_CHECK(span_eq_ci(span_make(p, n), text));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_cmd cmd;
	char *p;

	if (size > 4096)
		return 0;
	/* A private copy of exactly size bytes for ASan. */
	p = malloc(size ? size : 1);
	if (p == NULL)
		return 0;
	if (size > 0)
		memcpy(p, data, size);

	fuzz_cmd_parse(p, size);
	fuzz_cmd_helo(p, size);
	fuzz_cmd_bdat(p, size, UINT64_MAX);
	fuzz_cmd_bdat(p, size, 1000);
	fuzz_cmd_bdat(p, size, 0);

	smtp_cmd_parse(span_make(p, size), &cmd);
	fuzz_cmd_helo(cmd.args.p, cmd.args.n);
	fuzz_cmd_bdat(cmd.args.p, cmd.args.n, 1u << 20);
	free(p);
	return 0;
}
