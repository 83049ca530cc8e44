/* Private declarations shared by server/config*.c (not for other files). */
#ifndef SD_SERVER_CONFIG_INT_H
#define SD_SERVER_CONFIG_INT_H

#include <stdarg.h>

#include "common/sl_common.h"
#include "server/config.h"

/* One broker key's value as a configuration holds it. */
struct sd__config_slot {
	union sd_config_value v;
	char *text;   /* canonical text, owned; NULL while a required key is unset */
	char **items; /* LIST: n_items items, owned (one block with their text) */
	int n_items;
	enum sd_config_source source;
	char *origin;	  /* owned "file:line" or "--set"; NULL for defaults */
	unsigned load_id; /* which sd_config_load_text() call set it (FILE only) */
};

struct sd_config {
	size_t n_keys;		       /* entries of the table (broker ones used) */
	struct sd__config_slot *slots; /* indexed like the table */
	unsigned loads;		       /* sd_config_load_text() calls so far */
	char errmsg[SD_CONFIG_ERRMSG_BYTES];
};

/* Returns the table index of a key, or -1. */
int sd__config_index(enum sd_config_scope scope, const char *name);

/* Writes a formatted message into errmsg (if not NULL and len > 0). */
void sd__config_errmsg(char *errmsg, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns the slot of a broker key, asserting it exists with one of the
 * types in the mask (1u << type). */
const struct sd__config_slot *sd__config_slot(const struct sd_config *c, const char *name,
					      unsigned type_mask);

#endif /* SD_SERVER_CONFIG_INT_H */
