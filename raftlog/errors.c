/* The raftlog error table (rl_strerror, rl_err_name) and error messages. */
#include <stdarg.h>
#include <stdio.h>

#include "raftlog/internal.h"

const char *rl_strerror(int err)
{
	switch (err) {
#define RL_ERR_STR(name, code, msg)                                            \
	case code:                                                             \
		return msg;
		RL_ERRORS(RL_ERR_STR)
#undef RL_ERR_STR
	default:
		return "unknown error";
	}
}

const char *rl_err_name(int err)
{
	switch (err) {
#define RL_ERR_NAME(name, code, msg)                                           \
	case code:                                                             \
		return #name;
		RL_ERRORS(RL_ERR_NAME)
#undef RL_ERR_NAME
	default:
		return "RL_UNKNOWN";
	}
}

/* Formats an error message into buf (RL__ERRMSG_SIZE bytes). */
void rl__errmsg_set(char *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, RL__ERRMSG_SIZE, fmt, ap);
	va_end(ap);
}
