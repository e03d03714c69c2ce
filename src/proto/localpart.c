/* localpart: account names and dot-atoms (see localpart.h). */
#include "proto/localpart.h"

#include <string.h>

bool
localpart_is_account(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > LOCALPART_MAX || s[0] == '.')
		return false;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (ch == '.' && i > 0 && s[i - 1] == '.')
			return false;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		    ch == '+' || ch == '-'))
			return false;
	}
	return true;
}

/* atext (RFC 5322 3.2.3), ASCII only. */
static bool
localpart_is_atext(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') ||
	    (ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

bool
localpart_is_dot_atom(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > LOCALPART_MAX || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i - 1] == '.')
				return false;
		} else if (!localpart_is_atext(s[i])) {
			return false;
		}
	}
	return true;
}
