/*
 * sasl: the SASL messages an SMTP server exchanges for AUTH (RFC 4954),
 * after the base64 layer is removed: PLAIN (RFC 4616) and SCRAM-SHA-256 /
 * SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677) with the tls-exporter channel
 * binding (RFC 9266). Parsers check the grammar strictly and hand back spans
 * into the caller's message; formatters append to a struct buf.
 *
 * Not here: the crypto (Hi, HMAC, proof and signature computation, in
 * src/auth/), nonce and salt generation, the base64 of the AUTH lines, and
 * every decision that depends on the session: whether TLS is up, whether
 * the -PLUS mechanism was chosen, whether the nonce in the final message
 * is the one this server sent (sasl_scram_nonce_ok() helps), and the
 * SASLprep (RFC 4013) normalisation, which petrel does not do: names and
 * passwords are compared as the octets the client sent.
 *
 * Limits: PLAIN fields and decoded SCRAM names are at most SASL_NAME_MAX
 * octets (RFC 4616 2 asks servers to accept at least 255); a SCRAM client
 * nonce at most SASL_SCRAM_NONCE_MAX octets; a salt at most
 * SASL_SCRAM_SALT_MAX. The caller caps the size of a whole AUTH payload.
 *
 * Secrets: the PLAIN password and the SCRAM proof are spans into, or copies
 * of, caller memory; the caller wipes its message and the output structs
 * (explicit_bzero) when done. Nothing here keeps a copy.
 */
#ifndef PETREL_PROTO_SASL_H
#define PETREL_PROTO_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/span.h"

#define SASL_NAME_MAX         255 /* octets: PLAIN fields, SCRAM names */
#define SASL_SCRAM_NONCE_MAX  255 /* octets of a client nonce (ours) */
#define SASL_SCRAM_SALT_MAX   128 /* octets of a salt we format (ours) */
#define SASL_SCRAM_SHA256_LEN 32  /* SHA-256 output: proof, signature */
/* The only channel binding type petrel supports (RFC 9266). */
#define SASL_SCRAM_CBIND_NAME "tls-exporter"

/* Return codes of the parsers. */
enum sasl_err {
	SASL_OK = 0,
	SASL_ERR_SYNTAX = -1,     /* not the grammar, or over a limit */
	SASL_ERR_CBIND_TYPE = -2, /* well-formed, but p= names a channel
				   * binding type other than tls-exporter */
	SASL_ERR_MEXT = -3,       /* well-formed, but carries the reserved
				   * mandatory-extension attribute m= */
};

/*
 * A short constant description of an enum sasl_err value, for logs
 * ("unknown error" for any other value). Never NULL.
 */
const char *sasl_strerror(int err);

/*
 * PLAIN (RFC 4616 2): message = [authzid] NUL authcid NUL passwd.
 *
 * Parses msg[0..n) (the decoded initial response or continuation). The
 * message must contain exactly two NULs; authcid and passwd are 1..255
 * octets, authzid 0..255; each is well-formed UTF-8 (utf8.h rules); the
 * authzid and authcid also contain no ASCII control character (which
 * SASLprep prohibits), the password may. On success returns 0 and sets
 * the three spans into msg (authzid may be empty: no authorization
 * identity was requested). Returns -1 otherwise, with the three spans set
 * to { NULL, 0 }.
 */
int sasl_plain_parse(const uint8_t *msg, size_t n, struct span *authzid_out,
    struct span *authcid_out, struct span *passwd_out);

/* gs2-cbind-flag of a SCRAM client-first-message (RFC 5802 7). */
enum sasl_scram_cbind {
	SASL_SCRAM_CBIND_NONE = 0,    /* "n": client has no channel binding */
	SASL_SCRAM_CBIND_UNOFFERED,   /* "y": client supports it but thinks
				       * the server does not */
	SASL_SCRAM_CBIND_TLS_EXPORTER /* "p=tls-exporter": required */
};

/*
 * A parsed client-first-message. Spans point into the parsed message,
 * which must outlive them (the server needs bare and gs2_header again for
 * the final message).
 */
struct sasl_scram_first {
	enum sasl_scram_cbind cbind;
	struct span gs2_header; /* from the start up to and including the
				 * second ',' ("n,,", "p=tls-exporter,a=x,") */
	char authzid[SASL_NAME_MAX + 1]; /* decoded saslname; "" if absent */
	char user[SASL_NAME_MAX + 1];    /* decoded saslname, never "" */
	struct span cnonce;              /* the r= value (1*printable) */
	struct span bare; /* client-first-message-bare: the rest after
			   * gs2_header, to the end of the message */
};

/*
 * Parses a SCRAM client-first-message (RFC 5802 7) in msg[0..n):
 *   gs2-header [reserved-mext ","] username "," nonce ["," extensions]
 * Names are unescaped ("=2C" -> ',', "=3D" -> '='); a name with '=' not
 * followed by "2C" or "3D", with a NUL or ASCII control character, with
 * malformed UTF-8, empty, or longer than SASL_NAME_MAX octets decoded is
 * refused. Optional extensions after the nonce are checked and ignored.
 *
 * Returns SASL_OK and fills *out, or a negative enum sasl_err with *out
 * zeroed (empty spans, "" names). A syntax error anywhere wins over
 * SASL_ERR_CBIND_TYPE, which wins over SASL_ERR_MEXT; so those two mean
 * the message was otherwise well-formed. The caller still decides:
 *   - cbind TLS_EXPORTER: only valid for the -PLUS mechanism on a
 *     connection where tls-exporter is defined (TLS 1.3);
 *   - cbind UNOFFERED while the server advertised -PLUS: a downgrade,
 *     RFC 5802 6 says fail (e=server-does-support-channel-binding);
 *   - cbind NONE or UNOFFERED with the -PLUS mechanism: fail.
 */
int sasl_scram_parse_first(
    const char *msg, size_t n, struct sasl_scram_first *out);

/*
 * Appends a server-first-message to out:
 *   "r=" cnonce snonce ",s=" base64(salt) ",i=" iter
 * cnonce and snonce must be non-empty printable (%x21-2B / %x2D-7E),
 * cnonce at most SASL_SCRAM_NONCE_MAX octets, salt 1..SASL_SCRAM_SALT_MAX
 * octets and iter > 0. Returns 0, or -1 when an argument breaks these
 * rules or out would pass its maximum; out is then unchanged.
 */
int sasl_scram_format_server_first(struct buf *out, struct span cnonce,
    struct span snonce, const uint8_t *salt, size_t saltlen, unsigned iter);

/* A parsed client-final-message; spans point into the parsed message. */
struct sasl_scram_final {
	struct span cbind; /* the c= value, strict base64, not empty */
	struct span nonce; /* the r= value (1*printable) */
	uint8_t proof[SASL_SCRAM_SHA256_LEN]; /* the decoded p= value */
	struct span without_proof; /* client-final-message-without-proof:
				    * the message up to ",p=" */
};

/*
 * Parses a SCRAM client-final-message (RFC 5802 7) in msg[0..n):
 *   "c=" base64 ",r=" nonce ["," extensions] ",p=" base64
 * p= must be the last attribute and decode to exactly
 * SASL_SCRAM_SHA256_LEN octets. Returns SASL_OK and fills *out, or
 * SASL_ERR_SYNTAX with *out zeroed. The nonce and channel binding are
 * only checked for syntax here: see sasl_scram_nonce_ok() and
 * sasl_scram_cbind_ok().
 */
int sasl_scram_parse_final(
    const char *msg, size_t n, struct sasl_scram_final *out);

/*
 * True if the final message's r= value is exactly cnonce followed by
 * snonce (RFC 5802 5.1: the client echoes the combined nonce).
 */
bool sasl_scram_nonce_ok(
    const struct sasl_scram_final *f, struct span cnonce, struct span snonce);

/*
 * True if the final message's c= value decodes to the cbind-input the
 * server expects (RFC 5802 7): first's gs2_header, followed by cbdata when
 * first->cbind is SASL_SCRAM_CBIND_TLS_EXPORTER (then cbdata must be the
 * non-empty tls-exporter value of this connection, RFC 9266 2: 32 octets
 * from the exporter label "EXPORTER-Channel-Binding", empty context); for
 * "n" and "y" cbdata is ignored and the header alone must match. False for
 * anything else, including p without cbdata.
 */
bool sasl_scram_cbind_ok(const struct sasl_scram_final *f,
    const struct sasl_scram_first *first, const uint8_t *cbdata, size_t cblen);

/*
 * Appends AuthMessage (RFC 5802 3) to out:
 *   client-first-message-bare "," server-first-message ","
 *   client-final-message-without-proof
 * Returns 0, or -1 when out would pass its maximum (out is unchanged).
 */
int sasl_scram_auth_message(struct buf *out, struct span bare,
    struct span server_first, struct span final_without_proof);

/*
 * Appends a successful server-final-message, "v=" base64(sig), to out.
 * Returns 0, or -1 when out would pass its maximum (out is unchanged).
 */
int sasl_scram_format_server_final(
    struct buf *out, const uint8_t sig[SASL_SCRAM_SHA256_LEN]);

/* server-error-value (RFC 5802 7), for sasl_scram_format_server_error(). */
enum sasl_scram_error {
	SASL_SCRAM_E_INVALID_ENCODING = 0,        /* "invalid-encoding" */
	SASL_SCRAM_E_EXTENSIONS_NOT_SUPPORTED,    /* unrecognized m= value */
	SASL_SCRAM_E_INVALID_PROOF,               /* "invalid-proof" */
	SASL_SCRAM_E_CHANNEL_BINDINGS_DONT_MATCH, /* c= is wrong */
	SASL_SCRAM_E_SERVER_DOES_SUPPORT_CHANNEL_BINDING, /* "y" downgrade */
	SASL_SCRAM_E_CHANNEL_BINDING_NOT_SUPPORTED,
	SASL_SCRAM_E_UNSUPPORTED_CHANNEL_BINDING_TYPE,
	SASL_SCRAM_E_UNKNOWN_USER,
	SASL_SCRAM_E_INVALID_USERNAME_ENCODING,
	SASL_SCRAM_E_NO_RESOURCES,
	SASL_SCRAM_E_OTHER_ERROR,
};

/*
 * Appends a failed server-final-message, "e=" server-error-value, to out
 * (RFC 5802 7 spelling, e.g. "e=invalid-proof"). RFC 5802 7 lets a
 * server say "other-error" instead of the real reason, which hides
 * whether an account exists ("unknown-user").
 * Returns 0, or -1 for a value outside the enum or when out would pass
 * its maximum (out is unchanged).
 */
int sasl_scram_format_server_error(struct buf *out, enum sasl_scram_error e);

#endif
