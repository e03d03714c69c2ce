/*
 * dns_rdata: pure decoders of the record data (rdata) libunbound hands
 * back in struct ub_result: MX, A, AAAA, TLSA, and the domain names inside
 * them. libunbound stores rdata with names uncompressed (RFC 1035 4.1.4
 * compression only exists in messages), so a compression pointer here is
 * an error, never followed.
 *
 * Every length is checked against the span; nothing is read past it. A
 * decoded name comes out as lower-case text without the trailing dot,
 * restricted to letters, digits, '-' and '_' in each label, so it is safe
 * to log, to compare, to put in an SMTP diagnostic and to hand back to
 * libunbound as a query name. Anything else (spaces, dots or control bytes
 * inside a label, non-ASCII) is DNS_RDATA_BADNAME: a mail route never
 * needs such a name, and a hostile zone must not smuggle bytes through it.
 */
#ifndef PETREL_PROTO_DNS_RDATA_H
#define PETREL_PROTO_DNS_RDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/span.h"

#define DNS_RDATA_WIRE_MAX  255 /* octets of a wire name, RFC 1035 2.3.4 */
#define DNS_RDATA_LABEL_MAX 63  /* octets of one label, RFC 1035 2.3.4 */
#define DNS_RDATA_NAME_MAX  253 /* text octets, no trailing dot */

/* RR types petrel asks for (RFC 1035 3.2.2, RFC 3596, RFC 6698). */
#define DNS_RDATA_TYPE_A     1
#define DNS_RDATA_TYPE_CNAME 5
#define DNS_RDATA_TYPE_SOA   6
#define DNS_RDATA_TYPE_TXT   16
#define DNS_RDATA_TYPE_MX    15
#define DNS_RDATA_TYPE_AAAA  28
#define DNS_RDATA_TYPE_TLSA  52

enum dns_rdata_err {
	DNS_RDATA_OK = 0,
	DNS_RDATA_SHORT = -1,   /* rdata shorter or longer than the type
				 * says: a truncated or padded record */
	DNS_RDATA_BADNAME = -2, /* a name with a compression pointer, an
				 * over-long label or name, or a byte
				 * outside [A-Za-z0-9_-] in a label */
	DNS_RDATA_BADTLSA = -3, /* a TLSA record whose data length does
				 * not match its matching type */
	DNS_RDATA_TOOLONG = -4, /* TXT text larger than the caller's buffer */
};

struct dns_rdata_mx {
	uint16_t pref; /* PREFERENCE: lower is tried first */
	bool null;     /* exchange is the root "." (RFC 7505 null
			* MX, when it is the only record) */
	char host[DNS_RDATA_NAME_MAX + 1]; /* lower-case, no trailing dot;
					    * "" for the root */
};

struct dns_rdata_tlsa {
	uint8_t usage;    /* certificate usage, RFC 6698 2.1.1 */
	uint8_t selector; /* RFC 6698 2.1.2 */
	uint8_t mtype;    /* matching type, RFC 6698 2.1.3 */
	struct span data; /* certificate association data: points
			   * into the input, at least one octet */
};

/*
 * Decodes the wire-format name at the start of in (RFC 1035 3.1):
 *
 *   name  = *label root
 *   label = len(1..63) octets     ; len byte 0x01..0x3f
 *   root  = %x00
 *
 * and writes it as text: labels lower-cased and joined by '.', no trailing
 * dot, "" for the root name itself. *used gets the number of wire octets
 * consumed (the name may be followed by other fields). out must hold
 * DNS_RDATA_NAME_MAX + 1 bytes. Returns DNS_RDATA_OK, DNS_RDATA_SHORT (the
 * span ends inside the name) or DNS_RDATA_BADNAME; on error out is "" and
 * *used is 0.
 */
int dns_rdata_name(struct span in, char *out, size_t *used);

/*
 * MX rdata (RFC 1035 3.3.9): PREFERENCE (u16, network order) EXCHANGE
 * (name), nothing after it. Returns DNS_RDATA_OK, DNS_RDATA_SHORT or
 * DNS_RDATA_BADNAME; on error *out is zeroed.
 */
int dns_rdata_mx(struct span rd, struct dns_rdata_mx *out);

/*
 * A rdata (RFC 1035 3.4.1): exactly 4 octets, copied to out in network
 * order. AAAA rdata (RFC 3596 2.2): exactly 16 octets. Return DNS_RDATA_OK
 * or DNS_RDATA_SHORT (wrong length; out zeroed).
 */
int dns_rdata_a(struct span rd, unsigned char out[4]);
int dns_rdata_aaaa(struct span rd, unsigned char out[16]);

/*
 * TLSA rdata (RFC 6698 2.1): usage, selector, matching type (one octet
 * each) and the association data (the rest, at least one octet). For the
 * matching types with a known digest length the data must have it
 * (1 SHA2-256: 32 octets, 2 SHA2-512: 64 octets); a record that does not
 * is DNS_RDATA_BADTLSA, which RFC 7671 5.1 calls "unusable" (skip it, do
 * not fail the whole set). Usage and selector values are not judged here.
 * Returns DNS_RDATA_OK, DNS_RDATA_SHORT or DNS_RDATA_BADTLSA; on error
 * *out is zeroed.
 */
int dns_rdata_tlsa(struct span rd, struct dns_rdata_tlsa *out);

/*
 * TXT rdata (RFC 1035 3.3.14): one or more <character-string>s, each a
 * length octet and that many octets. RFC 7208 3.3 and RFC 8461 3.1 read a
 * record as the concatenation of its strings without separators; that
 * concatenation goes to out (outsz bytes, NUL added) and its length to
 * *len. Returns DNS_RDATA_OK, DNS_RDATA_SHORT (a string runs past the
 * rdata, or no string at all) or DNS_RDATA_TOOLONG (it does not fit out;
 * out is "" then). Bytes are copied as they are: the caller judges them.
 */
int dns_rdata_txt(struct span rd, char *out, size_t outsz, size_t *len);

/*
 * True if text (a name as given to a query, an optional single trailing
 * dot allowed) has the shape dns_rdata_name() produces: 1..253 octets of
 * dot-separated labels of 1..63 octets from [A-Za-z0-9_-]. The root "."
 * and "" are false.
 */
bool dns_rdata_is_hostname(struct span text);

/* "ok", "truncated rdata", ... for log lines. Never NULL. */
const char *dns_rdata_strerror(int err);

#endif
