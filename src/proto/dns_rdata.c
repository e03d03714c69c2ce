/* dns_rdata: MX, A, AAAA, TLSA rdata and wire names (see dns_rdata.h). */
#include "proto/dns_rdata.h"

#include <string.h>

static const unsigned char *
dns_rdata_bytes(struct span s)
{
	return (const unsigned char *)s.p;
}

/* A label octet we accept: RFC 952 LDH plus '_' (seen in the wild). */
static bool
dns_rdata_is_label_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

static char
dns_rdata_lower(unsigned char ch)
{
	return (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
}

/*
 * RFC 1035 3.1: "Domain names in messages are expressed in terms of a
 * sequence of labels. Each label is represented as a one octet length
 * field followed by that number of octets. Since every domain name ends
 * with the null label of the root, a domain name is terminated by a
 * length byte of zero. The high order two bits of every length octet must
 * be zero [...]" (a 11 prefix is a pointer, RFC 1035 4.1.4; 01 and 10 are
 * the extended label types of RFC 6891, obsolete). "To simplify
 * implementations, the total length of a domain name (i.e., label octets
 * and label length octets) is restricted to 255 octets or less."
 */
int
dns_rdata_name(struct span in, char *out, size_t *used)
{
	const unsigned char *p = dns_rdata_bytes(in);
	size_t off = 0, o = 0, i;
	int rc;

	*used = 0;
	for (;;) {
		size_t len;

		if (off >= in.n) {
			rc = DNS_RDATA_SHORT;
			goto fail;
		}
		len = p[off];
		if (len == 0)
			break;
		/* a pointer or an extended label type; or the wire length
		 * so far + this label + the root octet over 255 */
		if (len > DNS_RDATA_LABEL_MAX ||
		    off + 1 + len + 1 > DNS_RDATA_WIRE_MAX) {
			rc = DNS_RDATA_BADNAME;
			goto fail;
		}
		if (len > in.n - off - 1) {
			rc = DNS_RDATA_SHORT;
			goto fail;
		}
		if (o > 0)
			out[o++] = '.';
		for (i = 0; i < len; i++) {
			unsigned char ch = p[off + 1 + i];

			if (!dns_rdata_is_label_char(ch)) {
				rc = DNS_RDATA_BADNAME;
				goto fail;
			}
			out[o++] = dns_rdata_lower(ch);
		}
		off += 1 + len;
	}
	/* text = wire - 2 for a non-root name, so wire <= 255 gives
	 * o <= 253 = DNS_RDATA_NAME_MAX */
	out[o] = '\0';
	*used = off + 1;
	return DNS_RDATA_OK;
fail:
	out[0] = '\0';
	return rc;
}

/* RFC 1035 3.3.9: MX RDATA = PREFERENCE (16 bits) EXCHANGE (name). */
int
dns_rdata_mx(struct span rd, struct dns_rdata_mx *out)
{
	const unsigned char *p = dns_rdata_bytes(rd);
	size_t used;
	int rc;

	memset(out, 0, sizeof(*out));
	if (rd.n < 3)
		return DNS_RDATA_SHORT;
	rc = dns_rdata_name(span_skip(rd, 2), out->host, &used);
	if (rc == DNS_RDATA_OK && used != rd.n - 2)
		rc = DNS_RDATA_SHORT; /* bytes after the name */
	if (rc != DNS_RDATA_OK) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	out->pref = (uint16_t)((unsigned)p[0] << 8 | p[1]);
	out->null = out->host[0] == '\0';
	return DNS_RDATA_OK;
}

/* RFC 1035 3.4.1: "ADDRESS: A 32 bit Internet address." */
int
dns_rdata_a(struct span rd, unsigned char out[4])
{
	memset(out, 0, 4);
	if (rd.n != 4)
		return DNS_RDATA_SHORT;
	memcpy(out, rd.p, 4);
	return DNS_RDATA_OK;
}

/* RFC 3596 2.2: "A 128 bit IPv6 address is encoded in the data portion
 * of an AAAA resource record in network byte order." */
int
dns_rdata_aaaa(struct span rd, unsigned char out[16])
{
	memset(out, 0, 16);
	if (rd.n != 16)
		return DNS_RDATA_SHORT;
	memcpy(out, rd.p, 16);
	return DNS_RDATA_OK;
}

/*
 * RFC 6698 2.1:
 *   | Cert. Usage (8) | Selector (8) | Matching Type (8) |
 *   / Certificate Association Data (rest)                 /
 */
int
dns_rdata_tlsa(struct span rd, struct dns_rdata_tlsa *out)
{
	const unsigned char *p = dns_rdata_bytes(rd);
	size_t dlen;

	memset(out, 0, sizeof(*out));
	if (rd.n < 4)
		return DNS_RDATA_SHORT;
	dlen = rd.n - 3;
	if ((p[2] == 1 && dlen != 32) || (p[2] == 2 && dlen != 64))
		return DNS_RDATA_BADTLSA;
	out->usage = p[0];
	out->selector = p[1];
	out->mtype = p[2];
	out->data = span_skip(rd, 3);
	return DNS_RDATA_OK;
}

int
dns_rdata_txt(struct span rd, char *out, size_t outsz, size_t *len)
{
	const unsigned char *p = dns_rdata_bytes(rd);
	size_t i = 0, o = 0;

	*len = 0;
	if (outsz > 0)
		out[0] = '\0';
	if (rd.n == 0)
		return DNS_RDATA_SHORT;
	while (i < rd.n) {
		size_t n = p[i++];

		if (n > rd.n - i) {
			if (outsz > 0)
				out[0] = '\0';
			return DNS_RDATA_SHORT;
		}
		if (o + n >= outsz) {
			if (outsz > 0)
				out[0] = '\0';
			return DNS_RDATA_TOOLONG;
		}
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	*len = o;
	return DNS_RDATA_OK;
}

bool
dns_rdata_is_hostname(struct span text)
{
	size_t i, label = 0;

	if (text.n > 0 && text.p[text.n - 1] == '.')
		text.n--;
	if (text.n == 0 || text.n > DNS_RDATA_NAME_MAX)
		return false;
	for (i = 0; i < text.n; i++) {
		unsigned char ch = (unsigned char)text.p[i];

		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!dns_rdata_is_label_char(ch) ||
			   ++label > DNS_RDATA_LABEL_MAX) {
			return false;
		}
	}
	return label > 0;
}

const char *
dns_rdata_strerror(int err)
{
	switch (err) {
	case DNS_RDATA_OK:
		return "ok";
	case DNS_RDATA_SHORT:
		return "truncated or padded rdata";
	case DNS_RDATA_BADNAME:
		return "invalid name in rdata";
	case DNS_RDATA_BADTLSA:
		return "TLSA data length does not match its matching type";
	case DNS_RDATA_TOOLONG:
		return "TXT record too long";
	default:
		return "unknown rdata error";
	}
}
