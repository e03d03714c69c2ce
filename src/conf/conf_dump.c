/*
 * conf_dump: writes a struct conf back as configuration text for
 * `petrel check-config -n` and the tests/conf regress. The output is in
 * keyword-table order, one directive a line, defaults included, and
 * parses back (conf_parse) into an equal struct: paths are absolute, sizes
 * and durations use the largest exact unit, values are quoted when they
 * hold a space, '#', '"' or '\' or are empty. Options with no value
 * (aliases, relay-from) and the default TLS paths of a generated pair are
 * written as comments so that parsing them back changes nothing.
 */
#include "conf/conf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "conf/conf_int.h"

/* True if v must be quoted to come back as one word. */
static bool
conf_dump_needs_quotes(const char *v)
{
	return v[0] == '\0' || strpbrk(v, " \t#\"\\") != NULL;
}

/* Appends v, quoted and escaped when needed. */
static void
conf_dump_value(struct buf *out, const char *v)
{
	if (!conf_dump_needs_quotes(v)) {
		(void)buf_puts(out, v);
		return;
	}
	(void)buf_putc(out, '"');
	for (; *v != '\0'; v++) {
		if (*v == '"' || *v == '\\')
			(void)buf_putc(out, '\\');
		(void)buf_putc(out, *v);
	}
	(void)buf_putc(out, '"');
}

/* Appends "keyword value\n". */
static void
conf_dump_kv(struct buf *out, const char *kw, const char *v)
{
	(void)buf_puts(out, kw);
	(void)buf_putc(out, ' ');
	conf_dump_value(out, v);
	(void)buf_putc(out, '\n');
}

/* Appends "keyword N\n". */
static void
conf_dump_uint(struct buf *out, const char *kw, unsigned v)
{
	(void)buf_printf(out, "%s %u\n", kw, v);
}

/* Appends "keyword DURATION\n". */
static void
conf_dump_duration(struct buf *out, const char *kw, unsigned v)
{
	char s[32];

	conf_dump_kv(out, kw, conf_fmt_duration(v, s, sizeof(s)));
}

/* Writes an address of outbound-source (no port) into out. */
static const char *
conf_fmt_addr(const struct sockaddr_storage *ss, char *out, size_t outsz)
{
	const void *a = ss->ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	if (inet_ntop(ss->ss_family, a, out, (socklen_t)outsz) == NULL)
		(void)snprintf(out, outsz, "?");
	return out;
}

/* The outbound delivery options (src/remote). */
static void
conf_dump_outbound(const struct conf *c, struct buf *out)
{
	static const char *const shtls[] = { "starttls", "implicit", "none" };
	char s[300];
	size_t i;

	conf_dump_kv(out, "user-remote", c->user_remote);
	conf_dump_uint(out, "remote-concurrency", c->remote_concurrency);
	conf_dump_uint(out, "destination-concurrency",
	    c->destination_concurrency);
	conf_dump_duration(out, "delay-warning", c->delay_warning);
	conf_dump_uint(out, "remote-port", c->remote_port);
	conf_dump_duration(out, "remote-timeout-connect",
	    c->remote_timeout_connect);
	conf_dump_duration(out, "remote-timeout-command",
	    c->remote_timeout_command);
	conf_dump_duration(out, "remote-timeout-data",
	    c->remote_timeout_data);
	if (c->source4.ss_family == 0 && c->source6.ss_family == 0)
		(void)buf_puts(out, "# outbound-source (none)\n");
	if (c->source4.ss_family != 0)
		conf_dump_kv(out, "outbound-source",
		    conf_fmt_addr(&c->source4, s, sizeof(s)));
	if (c->source6.ss_family != 0)
		conf_dump_kv(out, "outbound-source",
		    conf_fmt_addr(&c->source6, s, sizeof(s)));
	conf_dump_kv(out, "outbound-tls",
	    conf_tls_policy_name(c->outbound_tls));
	for (i = 0; i < c->ntls_rules; i++) {
		(void)snprintf(s, sizeof(s), "%s %s", c->tls_rules[i].domain,
		    conf_tls_policy_name(c->tls_rules[i].policy));
		(void)buf_printf(out, "tls-policy %s\n", s);
	}
	conf_dump_kv(out, "outbound-ca-file", c->outbound_ca_file);
	if (c->smarthost == NULL) {
		(void)buf_puts(out, "# smarthost (none)\n");
	} else {
		if (strchr(c->smarthost, ':') != NULL)
			(void)snprintf(s, sizeof(s), "[%s]:%u", c->smarthost,
			    c->smarthost_port);
		else
			(void)snprintf(s, sizeof(s), "%s:%u", c->smarthost,
			    c->smarthost_port);
		conf_dump_kv(out, "smarthost", s);
		conf_dump_kv(out, "smarthost-tls",
		    shtls[c->smarthost_tls]);
		conf_dump_kv(out, "smarthost-verify",
		    c->smarthost_verify ? "yes" : "no");
		if (c->smarthost_auth != NULL)
			conf_dump_kv(out, "smarthost-auth", c->smarthost_auth);
	}
	if (c->dns_mode == CONF_DNS_FORWARD) {
		(void)buf_puts(out, "dns-resolver");
		for (i = 0; i < c->ndns_forwarders; i++)
			(void)buf_printf(out, " %s", c->dns_forwarders[i]);
		(void)buf_putc(out, '\n');
	} else {
		conf_dump_kv(out, "dns-resolver",
		    c->dns_mode == CONF_DNS_RECURSIVE ? "recursive" :
		    "resolv.conf");
	}
	conf_dump_kv(out, "dns-trust-anchor",
	    c->dns_trust_anchor ? c->dns_trust_anchor : "none");
	for (i = 0; i < c->ndns_options; i++) {
		(void)buf_printf(out, "dns-option %s ", c->dns_options[2 * i]);
		conf_dump_value(out, c->dns_options[2 * i + 1]);
		(void)buf_putc(out, '\n');
	}
	conf_dump_kv(out, "dane", c->dane ? "yes" : "no");
	conf_dump_kv(out, "mta-sts", c->mta_sts ? "yes" : "no");
	conf_dump_kv(out, "mta-sts-ca-file", c->sts_ca_file);
	conf_dump_duration(out, "tls-remember", c->tls_remember);
	conf_dump_kv(out, "tls-remember-policy",
	    conf_tls_remember_name(c->tls_remember_policy));
	conf_dump_kv(out, "tlsrpt", c->tlsrpt ? "yes" : "no");
	conf_dump_kv(out, "tlsrpt-contact", c->tlsrpt_contact);
}

void
conf_dump(const struct conf *c, struct buf *out)
{
	char s[64];
	size_t i;

	(void)buf_puts(out, "# petrel effective configuration\n");
	conf_dump_kv(out, "hostname", c->hostname);
	conf_dump_kv(out, "state-dir", c->state_dir);
	conf_dump_kv(out, "spool-dir", c->spool_dir);
	conf_dump_kv(out, "mail-dir", c->mail_dir);
	if (c->tls_generate) {
		(void)buf_puts(out, "# TLS: a self-signed pair is generated "
				    "when missing:\n# ");
		conf_dump_kv(out, "tls-certificate", c->tls_cert);
		(void)buf_puts(out, "# ");
		conf_dump_kv(out, "tls-key", c->tls_key);
	} else {
		conf_dump_kv(out, "tls-certificate", c->tls_cert);
		conf_dump_kv(out, "tls-key", c->tls_key);
	}
	for (i = 0; i < c->nlisteners; i++) {
		(void)buf_puts(out, "listen ");
		conf_dump_value(out, c->listeners[i].text);
		(void)buf_printf(out, " %s\n",
		    conf_role_name(c->listeners[i].role));
	}
	for (i = 0; i < c->ndomains; i++)
		conf_dump_kv(out, "domain", c->domains[i]);
	conf_dump_kv(out, "users", c->users_file);
	if (c->aliases_file != NULL)
		conf_dump_kv(out, "aliases", c->aliases_file);
	else
		(void)buf_puts(out, "# aliases (none)\n");
	conf_dump_kv(out, "recipient-delimiter", c->delimiter);
	if (c->nrelay_nets == 0)
		(void)buf_puts(out, "# relay-from (none)\n");
	for (i = 0; i < c->nrelay_nets; i++)
		conf_dump_kv(out, "relay-from",
		    conf_fmt_net(&c->relay_nets[i], s, sizeof(s)));
	conf_dump_kv(out, "max-message-size",
	    conf_fmt_size(c->max_message_size, s, sizeof(s)));
	conf_dump_uint(out, "max-recipients", c->max_recipients);
	conf_dump_uint(out, "max-errors", c->max_errors);
	conf_dump_uint(out, "max-connections", c->max_connections);
	conf_dump_uint(out, "max-connections-per-ip",
	    c->max_connections_per_ip);
	conf_dump_uint(out, "max-command-line", c->max_command_line);
	conf_dump_uint(out, "max-text-line", c->max_text_line);
	conf_dump_duration(out, "timeout-command", c->timeout_command);
	conf_dump_duration(out, "timeout-data", c->timeout_data);
	conf_dump_kv(out, "expn", c->expn ? "yes" : "no");
	conf_dump_kv(out, "user-smtp", c->user_smtp);
	conf_dump_kv(out, "user-queue", c->user_queue);
	conf_dump_kv(out, "user-local", c->user_local);
	conf_dump_kv(out, "user-auth", c->user_auth);
	conf_dump_uint(out, "auth-fail-limit-ip", c->auth_fail_limit_ip);
	conf_dump_uint(out, "auth-fail-limit-user", c->auth_fail_limit_user);
	conf_dump_duration(out, "auth-fail-window", c->auth_fail_window);
	conf_dump_duration(out, "auth-fail-delay", c->auth_fail_delay);
	conf_dump_kv(out, "sender-check", c->sender_check ? "yes" : "no");
	conf_dump_kv(out, "received-client", c->received_client ? "yes" : "no");
	conf_dump_duration(out, "retry-min", c->retry_min);
	conf_dump_duration(out, "retry-max", c->retry_max);
	conf_dump_duration(out, "queue-lifetime", c->queue_lifetime);
	conf_dump_uint(out, "local-concurrency", c->local_concurrency);
	conf_dump_kv(out, "log-level",
	    conf_log_level_name(c->log_level) ? conf_log_level_name(c->log_level)
					      : "info");
	conf_dump_outbound(c, out);
}
