/* Prints the configuration reference (docs/configuration.md) generated from
 * server/config's table; with --help, the --help-config text instead. */
#include <stdio.h>
#include <string.h>

#include "server/config.h"

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		sd_config_help(stdout);
		return 0;
	}
	return sd_config_write_markdown(stdout) == 0 && fflush(stdout) == 0 ? 0 : 1;
}
