/*
 * log: one line per event on stderr (systemd's journal or a terminal),
 * "TIME petrel[PROC]: LEVEL key=value ...". Peer-supplied text must pass
 * through log_escape() first so that it cannot forge lines or fields.
 * fatal() is for broken invariants only, never for peer input.
 */
#ifndef PETREL_LIB_LOG_H
#define PETREL_LIB_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERR };

/* Names this process in every line ("parent", "smtp", "queue", "local"). */
void log_init(const char *procname, enum log_level min);
void log_set_level(enum log_level min);
void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
/* Logs and exits with status 1 (errno text appended by fatal()). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Copies at most n bytes of untrusted text into out (size outsz > 0) with
 * control bytes, '"', '\\' and non-ASCII escaped as \xHH, truncating with
 * "..." when it does not fit. Returns out.
 */
char *log_escape(const char *in, size_t n, char *out, size_t outsz);

#endif
