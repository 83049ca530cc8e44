/* stretchlogd: one broker of a stretchlog cluster.
 *
 *   stretchlogd [--config FILE] [--set key=value]... [--help-config]
 *               [--print-config] [--help]
 *
 * The configuration is a Kafka-style properties file plus --set overrides,
 * validated against one table of keys (stretchlogd --help-config prints it).
 * Exit status: 0 after a clean SIGTERM drain, 1 on a startup error, 2 on a
 * usage or configuration error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include <signal.h>

#include "server/config.h"

int sd_broker_run(struct sd_config *cfg);

static void usage(FILE *f)
{
	fprintf(f, "usage: stretchlogd [--config FILE] [--set key=value]... [--help-config]\n"
		   "                   [--print-config] [--help]\n"
		   "Runs one stretchlog broker. Keys and defaults: stretchlogd --help-config\n");
}

int main(int argc, char **argv)
{
	struct sd_config *cfg;
	/* Writes to a client that went away must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	sl_alloc_tune_for_service();
	if (sd_config_new(&cfg) != 0) {
		fprintf(stderr, "stretchlogd: out of memory\n");
		return 1;
	}
	bool print = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			sd_config_free(cfg);
			return 0;
		}
		if (strcmp(a, "--help-config") == 0) {
			sd_config_help(stdout);
			sd_config_free(cfg);
			return 0;
		}
		if (strcmp(a, "--print-config") == 0) {
			print = true;
			continue;
		}
		int rv;
		if ((strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) && i + 1 < argc) {
			rv = sd_config_load_file(cfg, argv[++i]);
		} else if (strcmp(a, "--set") == 0 && i + 1 < argc) {
			rv = sd_config_set_arg(cfg, argv[++i]);
		} else if (strncmp(a, "--set=", 6) == 0) {
			rv = sd_config_set_arg(cfg, a + 6);
		} else {
			fprintf(stderr, "stretchlogd: unknown or incomplete argument '%s'\n", a);
			usage(stderr);
			sd_config_free(cfg);
			return 2;
		}
		if (rv != 0) {
			fprintf(stderr, "stretchlogd: %s\n", sd_config_errmsg(cfg));
			sd_config_free(cfg);
			return 2;
		}
	}
	if (sd_config_finish(cfg) != 0) {
		fprintf(stderr, "stretchlogd: %s\n", sd_config_errmsg(cfg));
		sd_config_free(cfg);
		return 2;
	}
	if (print) {
		sd_config_dump(cfg, stdout);
		sd_config_free(cfg);
		return 0;
	}
	int rc = sd_broker_run(cfg);
	sd_config_free(cfg);
	return rc;
}
