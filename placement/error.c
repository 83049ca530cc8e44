/* Error codes of the placement module: names, messages and errmsg formatting. */
#include <stdio.h>

#include "placement/internal.h"

const char *pl_strerror(int err)
{
	if (err == 0) {
		return "success";
	}
	switch (err) {
#define PL__ERR_MSG(name, value, msg)                                                              \
	case (value):                                                                              \
		return (msg);
		PL_ERRNO_MAP(PL__ERR_MSG)
#undef PL__ERR_MSG
	default:
		return "unknown placement error";
	}
}

const char *pl_err_name(int err)
{
	if (err == 0) {
		return "0";
	}
	switch (err) {
#define PL__ERR_NAME(name, value, msg)                                                             \
	case (value):                                                                              \
		return "PL_ERR_" #name;
		PL_ERRNO_MAP(PL__ERR_NAME)
#undef PL__ERR_NAME
	default:
		return "PL_ERR_UNKNOWN";
	}
}

void pl__errmsg(char *errmsg, size_t len, const char *fmt, ...)
{
	if (errmsg == NULL || len == 0) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, len, fmt, ap);
	va_end(ap);
}
