/* tls: server and client contexts, self-signed certificates (see tls.h). */
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

/* TLS 1.2 suites: forward secret AEADs only. TLS 1.3 keeps its defaults. */
#define TLS_CIPHERS12 "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"

static void
tls_err(char *err, size_t errsz, const char *what)
{
	unsigned long e = ERR_get_error();
	char detail[256] = "";

	if (e != 0)
		ERR_error_string_n(e, detail, sizeof(detail));
	snprintf(err, errsz, "%s%s%s", what, e ? ": " : "", detail);
	ERR_clear_error();
}

SSL_CTX *
tls_server_ctx_new(const char *cert_pem, size_t cert_len, const char *key_pem,
    size_t key_len, char *err, size_t errsz)
{
	SSL_CTX *ctx = NULL;
	BIO *bio = NULL;
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;

	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		tls_err(err, errsz, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS12) != 1) {
		tls_err(err, errsz, "cipher list");
		goto fail;
	}
	SSL_CTX_set_dh_auto(ctx, 1);

	bio = BIO_new_mem_buf(cert_pem, (int)cert_len);
	if (bio == NULL || (x = PEM_read_bio_X509_AUX(bio, NULL, NULL,
	    NULL)) == NULL) {
		tls_err(err, errsz, "certificate: no PEM certificate found");
		goto fail;
	}
	if (SSL_CTX_use_certificate(ctx, x) != 1) {
		tls_err(err, errsz, "certificate");
		goto fail;
	}
	X509_free(x);
	x = NULL;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			tls_err(err, errsz, "certificate chain");
			goto fail;
		}
		x = NULL;
	}
	ERR_clear_error();	/* the loop ends on "no start line" */
	BIO_free(bio);

	bio = BIO_new_mem_buf(key_pem, (int)key_len);
	if (bio == NULL || (pk = PEM_read_bio_PrivateKey(bio, NULL, NULL,
	    NULL)) == NULL) {
		tls_err(err, errsz, "private key: no PEM key found");
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey(ctx, pk) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_err(err, errsz, "private key does not match certificate");
		goto fail;
	}
	EVP_PKEY_free(pk);
	BIO_free(bio);
	return ctx;
fail:
	X509_free(x);
	EVP_PKEY_free(pk);
	BIO_free(bio);
	SSL_CTX_free(ctx);
	return NULL;
}

/* Creates the parent directory of path (one level) if missing. */
static void
tls_mkparent(const char *path)
{
	char dir[4096];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		(void)mkdir(dir, 0700);
	}
}

static int
tls_write_pem(const char *path, mode_t mode, X509 *x, EVP_PKEY *pk)
{
	char tmp[4200];
	FILE *f;
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ok = x ? PEM_write_X509(f, x) :
	    PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) != 0) {
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

int
tls_generate_selfsigned(const char *cert_path, const char *key_path,
    const char *hostname, char *err, size_t errsz)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	char san[300];
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	int rc = -1;

	if (pk == NULL || x == NULL) {
		tls_err(err, errsz, "key generation");
		goto out;
	}
	X509_set_version(x, 2);
	if (RAND_bytes(serial, sizeof(serial)) != 1 ||
	    (bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
		tls_err(err, errsz, "serial");
		goto out;
	}
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
	X509_set_pubkey(x, pk);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)hostname, -1, -1, 0);
	X509_set_issuer_name(x, name);
	snprintf(san, sizeof(san), "DNS:%s", hostname);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	if (ext == NULL || X509_add_ext(x, ext, -1) != 1) {
		X509_EXTENSION_free(ext);
		tls_err(err, errsz, "subjectAltName");
		goto out;
	}
	X509_EXTENSION_free(ext);
	if (X509_sign(x, pk, EVP_sha256()) == 0) {
		tls_err(err, errsz, "signing");
		goto out;
	}
	tls_mkparent(key_path);
	tls_mkparent(cert_path);
	if (tls_write_pem(key_path, 0600, NULL, pk) != 0 ||
	    tls_write_pem(cert_path, 0644, x, NULL) != 0) {
		snprintf(err, errsz, "writing %s / %s: %s", cert_path,
		    key_path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

void
tls_describe(SSL *ssl, char *out, size_t outsz)
{
	int bits = 0;

	SSL_get_cipher_bits(ssl, &bits);
	snprintf(out, outsz, "%s cipher=%s bits=%d", SSL_get_version(ssl),
	    SSL_get_cipher_name(ssl), bits);
}

/* ---- client side (outbound delivery) ---- */

SSL_CTX *
tls_client_ctx_new(const char *ca_pem, size_t ca_len, char *err,
    size_t errsz)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	X509_STORE *store;
	BIO *bio;
	X509 *x;

	if (ctx == NULL) {
		tls_err(err, errsz, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS12) != 1) {
		tls_err(err, errsz, "cipher list");
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* The result is checked after the handshake (tls_client_verified),
	 * so that policy "may" and "encrypt" can log it too. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	store = SSL_CTX_get_cert_store(ctx);
	if (ca_len == 0)
		return ctx;
	bio = BIO_new_mem_buf(ca_pem, (int)ca_len);
	if (bio == NULL) {
		tls_err(err, errsz, "BIO_new_mem_buf");
		SSL_CTX_free(ctx);
		return NULL;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		(void)X509_STORE_add_cert(store, x);	/* duplicates: fine */
		X509_free(x);
	}
	ERR_clear_error();	/* the end of the file reads as an error */
	BIO_free(bio);
	return ctx;
}

int
tls_client_prepare(SSL *ssl, const char *host)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	char sni[256];	/* the macro below casts const away */

	/* SNI only for names, never for address literals (RFC 6066 3). */
	if (strchr(host, ':') == NULL && strspn(host, "0123456789.") !=
	    strlen(host) && ((size_t)snprintf(sni, sizeof(sni), "%s", host) >=
	    sizeof(sni) || SSL_set_tlsext_host_name(ssl, sni) != 1))
		return -1;
	X509_VERIFY_PARAM_set_hostflags(vp,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	/* An address literal (a smarthost by address) matches IP SANs. */
	if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1)
		return 0;
	return X509_VERIFY_PARAM_set1_host(vp, host, 0) == 1 ? 0 : -1;
}

bool
tls_client_verified(SSL *ssl, char *why, size_t whysz)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);
	long r;

	if (peer == NULL) {
		snprintf(why, whysz, "no certificate");
		return false;
	}
	r = SSL_get_verify_result(ssl);
	if (r != X509_V_OK) {
		snprintf(why, whysz, "%s", X509_verify_cert_error_string(r));
		return false;
	}
	snprintf(why, whysz, "ok");
	return true;
}
