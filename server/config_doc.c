/* Renderings of the configuration table: the --help-config text and the
 * Markdown reference committed as docs/configuration.md. */
#include <stdio.h>
#include <string.h>

#include "server/config_int.h"

/* Width of wrapped description lines in --help-config. */
#define HELP_WIDTH 78

/* Writes a human reading of a number with a unit ("1 GiB", "7 d"), or ""
 * when there is none worth giving. */
static void human(const struct sd_config_key *k, int64_t v, char *buf, size_t len)
{
	static const struct {
		int64_t mult;
		const char *name;
	} bytes[] = {{1LL << 40, "TiB"},
		     {1LL << 30, "GiB"},
		     {1LL << 20, "MiB"},
		     {1LL << 10, "KiB"}},
	  ms[] = {{86400000, "d"}, {3600000, "h"}, {60000, "min"}, {1000, "s"}};
	buf[0] = '\0';
	bool is_bytes = k->type == SD_CONFIG_BYTES;
	if (v <= 0 || (!is_bytes && k->type != SD_CONFIG_DURATION)) {
		return;
	}
	for (size_t i = 0; i < 4; i++) {
		int64_t m = is_bytes ? bytes[i].mult : ms[i].mult;
		if (v >= m && v % m == 0) {
			snprintf(buf, len, "%lld %s", (long long)(v / m),
				 is_bytes ? bytes[i].name : ms[i].name);
			return;
		}
	}
}

/* Writes one bound: a number with its human reading, if any. */
static void bound(const struct sd_config_key *k, int64_t v, char *buf, size_t len)
{
	char h[32];
	human(k, v, h, sizeof(h));
	if (h[0] != '\0') {
		snprintf(buf, len, "%lld (%s)", (long long)v, h);
	} else {
		snprintf(buf, len, "%lld", (long long)v);
	}
}

/* Describes the valid values of a key in a few words. */
static void valid_values(const struct sd_config_key *k, char *buf, size_t len)
{
	char lo[64], hi[64];
	switch (k->type) {
	case SD_CONFIG_BOOL:
		snprintf(buf, len, "true, false");
		return;
	case SD_CONFIG_INT:
	case SD_CONFIG_DURATION:
	case SD_CONFIG_BYTES:
		bound(k, k->min, lo, sizeof(lo));
		bound(k, k->max, hi, sizeof(hi));
		if (k->max == INT64_MAX) {
			snprintf(buf, len, "at least %s%s%s", lo, k->unit[0] != '\0' ? " " : "",
				 k->unit);
		} else {
			snprintf(buf, len, "%s to %s%s%s", lo, hi, k->unit[0] != '\0' ? " " : "",
				 k->unit);
		}
		return;
	case SD_CONFIG_DOUBLE:
		snprintf(buf, len, "%g to %g%s%s", k->dmin, k->dmax, k->unit[0] != '\0' ? " " : "",
			 k->unit);
		return;
	case SD_CONFIG_ENUM: {
		size_t n = 0;
		buf[0] = '\0';
		for (const char *const *c = k->choices; *c != NULL && n < len; c++) {
			n += (size_t)snprintf(buf + n, len - n, "%s%s", c == k->choices ? "" : ", ",
					      *c);
		}
		return;
	}
	case SD_CONFIG_LIST:
		snprintf(buf, len, "%lld to %lld items", (long long)k->min, (long long)k->max);
		return;
	case SD_CONFIG_STRING:
		snprintf(buf, len, "%lld to %lld bytes", (long long)k->min, (long long)k->max);
		return;
	}
	buf[0] = '\0';
}

/* Writes the default of a key as text. */
static void default_text(const struct sd_config_key *k, char *buf, size_t len)
{
	char h[32];
	if (k->scope == SD_CONFIG_TOPIC) {
		snprintf(buf, len, "broker's %s", k->synonym);
	} else if (k->default_value == NULL) {
		snprintf(buf, len, "required");
	} else if (k->default_value[0] == '\0') {
		snprintf(buf, len, "(empty)");
	} else {
		long long v;
		char end;
		bool numeric = sscanf(k->default_value, "%lld%c", &v, &end) == 1;
		human(k, numeric ? v : 0, h, sizeof(h));
		snprintf(buf, len, "%s%s%s%s", k->default_value, h[0] != '\0' ? " (" : "", h,
			 h[0] != '\0' ? ")" : "");
	}
}

/* Prints text wrapped at HELP_WIDTH with an indent. */
static void wrap(FILE *f, const char *text, int indent)
{
	int col = 0;
	const char *p = text;
	while (*p != '\0') {
		while (*p == ' ') {
			p++;
		}
		size_t w = strcspn(p, " ");
		if (w == 0) {
			break;
		}
		if (col > indent && col + 1 + (int)w > HELP_WIDTH) {
			fputc('\n', f);
			col = 0;
		}
		if (col == 0) {
			fprintf(f, "%*s", indent, "");
			col = indent;
		} else {
			fputc(' ', f);
			col++;
		}
		fwrite(p, 1, w, f);
		col += (int)w;
		p += w;
	}
	if (col > 0) {
		fputc('\n', f);
	}
}

static void help_scope(FILE *f, enum sd_config_scope scope)
{
	size_t n;
	const struct sd_config_key *keys = sd_config_keys(&n);
	for (size_t i = 0; i < n; i++) {
		const struct sd_config_key *k = &keys[i];
		if (k->scope != scope) {
			continue;
		}
		char def[128], vals[256];
		default_text(k, def, sizeof(def));
		valid_values(k, vals, sizeof(vals));
		bool required = (k->flags & SD_CONFIG_F_REQUIRED) != 0;
		fprintf(f, "  %s  (%s; %s%s; %s)\n", k->name, sd_config_type_name(k->type),
			required ? "" : "default ", def, vals);
		wrap(f, k->description, 6);
	}
}

void sd_config_help(FILE *f)
{
	SL_ASSERT(f != NULL);
	fputs("Broker configuration: a Kafka-style properties file (stretchlogd -c FILE) and\n"
	      "--set key=value overrides. Durations take ms, s, m, h, d suffixes; byte sizes\n"
	      "take k, m, g, t (binary).\n\nBroker keys:\n",
	      f);
	help_scope(f, SD_CONFIG_BROKER);
	fputs("\nTopic keys (CreateTopics, AlterConfigs; the default is the broker key named):\n",
	      f);
	help_scope(f, SD_CONFIG_TOPIC);
}

/* Writes text for a Markdown table cell: '|' escaped, no line breaks. */
static void md_cell(FILE *f, const char *text)
{
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '|') {
			fputs("\\|", f);
		} else {
			fputc(*p == '\n' ? ' ' : *p, f);
		}
	}
}

static void md_table(FILE *f, enum sd_config_scope scope)
{
	size_t n;
	const struct sd_config_key *keys = sd_config_keys(&n);
	fputs("| Key | Type | Default | Valid values | Description |\n"
	      "|-----|------|---------|--------------|-------------|\n",
	      f);
	for (size_t i = 0; i < n; i++) {
		const struct sd_config_key *k = &keys[i];
		if (k->scope != scope) {
			continue;
		}
		char def[128], vals[256];
		default_text(k, def, sizeof(def));
		valid_values(k, vals, sizeof(vals));
		fprintf(f, "| `%s` | %s | ", k->name, sd_config_type_name(k->type));
		if (k->scope == SD_CONFIG_BROKER && k->default_value != NULL &&
		    k->default_value[0] != '\0') {
			fputc('`', f);
			md_cell(f, k->default_value);
			fputc('`', f);
			md_cell(f, def + strlen(k->default_value));
		} else {
			md_cell(f, def);
		}
		fputs(" | ", f);
		md_cell(f, vals);
		fputs(" | ", f);
		md_cell(f, k->description);
		fputs(" |\n", f);
	}
}

int sd_config_write_markdown(FILE *f)
{
	SL_ASSERT(f != NULL);
	fputs("# Configuration reference\n\n"
	      "<!-- Generated from the table in server/config.c by scripts/gen-config-doc.sh; "
	      "do not edit. -->\n\n"
	      "`stretchlogd` reads a Kafka-style properties file (`key=value` or `key: value`, "
	      "`#` and `!` comments, backslash escapes and line continuations) and then applies "
	      "`--set key=value` overrides. Every value is checked when it is read: an unknown "
	      "key, a value of the wrong type or outside its bounds stops the broker with a "
	      "message naming the file, the line and the key. `stretchlogd --help-config` prints "
	      "this table.\n\n"
	      "Values: booleans are `true` or `false`; durations are milliseconds or take a "
	      "suffix `ms`, `s`, `m`, `h`, `d` (`30s`); byte sizes take a binary suffix `k`, "
	      "`m`, `g`, `t` (`64m`); lists are comma-separated. Where the bounds allow `-1`, it "
	      "means no limit.\n\n"
	      "## Broker keys\n\n",
	      f);
	md_table(f, SD_CONFIG_BROKER);
	fputs("\n## Topic keys\n\n"
	      "Set with CreateTopics (`stretchlog topic create -c key=value`) or AlterConfigs. "
	      "A topic without an override follows the broker key named in the Default column, "
	      "as Kafka's topic configs follow their broker synonyms. Unknown keys and invalid "
	      "values are refused with INVALID_CONFIG.\n\n",
	      f);
	md_table(f, SD_CONFIG_TOPIC);
	return ferror(f) != 0 ? SD_CONFIG_EIO : 0;
}
