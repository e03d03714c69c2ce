/*
 * tls: OpenSSL 3 contexts for petrel's servers and its outbound client. TLS 1.2 and 1.3 only, a
 * modern cipher list, no renegotiation, no compression. Certificates and
 * keys are given as PEM bytes (the parent reads the files and passes them
 * to the unprivileged process, which may not open them itself).
 */
#ifndef PETREL_TLS_TLS_H
#define PETREL_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/*
 * Builds a server context from a PEM certificate chain (leaf first) and a
 * PEM private key. Returns the context, or NULL with a reason in err.
 */
SSL_CTX *tls_server_ctx_new(const char *cert_pem, size_t cert_len,
    const char *key_pem, size_t key_len, char *err, size_t errsz);

/*
 * Writes a new self-signed certificate for hostname (EC P-256, valid for
 * ten years, subjectAltName DNS:hostname) and its key (mode 0600) to the
 * given paths, creating their directory. 0, or -1 with a reason in err.
 */
int tls_generate_selfsigned(const char *cert_path, const char *key_path,
    const char *hostname, char *err, size_t errsz);

/*
 * A client context for outbound delivery: TLS 1.2 or later, the given PEM
 * certificates (may be empty: then nothing verifies) as the only trust
 * anchors. Verification never fails a handshake by itself; callers ask
 * tls_client_verified() afterwards and decide by their policy. NULL with
 * a reason in err.
 */
SSL_CTX *tls_client_ctx_new(const char *ca_pem, size_t ca_len, char *err,
    size_t errsz);
/* Sets SNI (names only) and the name the certificate must match. 0/-1. */
int tls_client_prepare(SSL *ssl, const char *host);
/*
 * After the handshake: true if the peer's chain verified against the
 * context's CAs and matches the name given to tls_client_prepare(). why
 * gets "ok" or the reason ("no certificate", "hostname mismatch", ...).
 */
bool tls_client_verified(SSL *ssl, char *why, size_t whysz);

/* "TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256" for logs and trace. */
void tls_describe(SSL *ssl, char *out, size_t outsz);

#endif
