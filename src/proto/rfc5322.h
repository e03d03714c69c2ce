/*
 * rfc5322: incremental scanner for the header section of an RFC 5322
 * message, fed the message content while it streams in during DATA/BDAT
 * (after dot-unstuffing, CRLF line ends, split into arbitrary chunks). It
 * finds where the header ends and counts the fields the SMTP server cares
 * about: "Received" (loop detection, RFC 5321 6.3) and the presence of
 * Date, Message-ID and From (RFC 5322 3.6 requires Date and From; a
 * submission server may add Date and Message-ID).
 *
 * Grammar (RFC 5322 2.2, 2.2.3, 3.5, 3.6.8; 4.5 obsolete syntax):
 *
 *   message       = (fields / obs-fields) [CRLF body]
 *   field         = field-name ":" unstructured CRLF
 *   field-name    = 1*ftext
 *   ftext         = %d33-57 / %d59-126  ; printable US-ASCII except ":"
 *   obs-optional  = field-name *WSP ":" unstructured CRLF
 *   folding       = a CRLF followed by WSP continues the field (2.2.3)
 *
 * Decisions, stable whatever the chunking:
 *  - Only CR LF ends a line. A bare LF or bare CR is an ordinary octet
 *    (smtp_data already refuses them; here they must merely not crash or
 *    end the header). So "From: a\n\nbody" is one long From line and the
 *    header has not ended.
 *  - A field is counted when the ':' after its name is seen, so a last
 *    line without CRLF still counts once its colon has arrived.
 *  - A line that starts with SP or HTAB continues the previous field (or
 *    the previous malformed line) and is never counted, whatever it holds.
 *  - A line that is neither a field nor a continuation (no colon, a space
 *    inside the name, "From foo" mbox lines, a control or 8-bit octet in
 *    the name, an empty name ":x") is a malformed field line: it is
 *    skipped, counts nothing, and does not end the header. Only an empty
 *    line (CRLF CRLF, or CRLF at the very start) ends the header.
 *  - Field names have no length limit: any name followed by ':' counts as
 *    a field. Names longer than the name buffer never match (all the names
 *    we match are short). Line length is the SMTP layer's limit.
 *  - Names match ASCII case-insensitively; optional WSP between the name
 *    and ':' (obsolete "Received :") is accepted.
 *  - Counters saturate at UINT_MAX.
 *
 * Limits: O(1) work per octet, no allocation, and once the header has
 * ended, feeding more is O(1) per call.
 */
#ifndef PETREL_PROTO_RFC5322_H
#define PETREL_PROTO_RFC5322_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rfc5322_scan {
	int state;           /* private: enum rfc5322_state in rfc5322.c */
	bool in_body;        /* the empty line ending the header was seen */
	unsigned received;   /* header fields named "Received" (any case) */
	unsigned fields;     /* header fields seen (well-formed names) */
	bool has_date;       /* a "Date" field was seen */
	bool has_message_id; /* a "Message-ID" field was seen */
	bool has_from;       /* a "From" field was seen */
	uint64_t header_len; /* when in_body: octets before the empty line
			      * that ends the header (where a field can be
			      * added at the end of the header) */
	uint64_t fed;        /* private: octets fed before this call */
	char name[32];       /* private: current field name (no NUL) */
	size_t name_len;     /* private: octets of the name so far, capped
			      * at sizeof(name) + 1 meaning "too long" */
};

/* Prepares s for a new message: in the header, nothing counted. */
void rfc5322_scan_init(struct rfc5322_scan *s);

/*
 * Feeds n bytes of the message as it will be stored (CRLF line ends),
 * updating the counters in s. Any split of the message into feeds gives
 * the same result. Once s->in_body is set the call returns at once. p may
 * be NULL when n is 0.
 */
void rfc5322_scan_feed(struct rfc5322_scan *s, const char *p, size_t n);

/*
 * The value of the first header field called name (ASCII
 * case-insensitive) in the header section of msg (n bytes, CRLF line
 * ends; the header ends at the first empty line or at the end of msg):
 * unfolded (each CRLF before WSP removed, RFC 5322 2.2.3), leading and
 * trailing WSP dropped, into out (outsz bytes, NUL added). Returns true
 * if found and it fit; false otherwise (out is "" then). Malformed lines
 * are skipped as by the scanner above.
 */
bool rfc5322_field_value(const char *msg, size_t n, const char *name,
    char *out, size_t outsz);

#endif
