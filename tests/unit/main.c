/* Runs every unit-test suite (tests/unit/test_<name>.c exports <name>_suite()).
 * Usage: test_unit [suite-name ...]   (no names = all suites) */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUITE(name) Suite *name##_suite(void);
#include "suites.h"
#undef SUITE

struct entry {
	const char *name;
	Suite *(*make)(void);
};

static const struct entry suites[] = {
#define SUITE(name) {#name, name##_suite},
#include "suites.h"
#undef SUITE
	{NULL, NULL}};

static int wanted(const char *name, int argc, char **argv)
{
	if (argc <= 1) {
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], name) == 0) {
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	SRunner *sr = NULL;
	for (const struct entry *e = suites; e->name != NULL; e++) {
		if (!wanted(e->name, argc, argv)) {
			continue;
		}
		if (sr == NULL) {
			sr = srunner_create(e->make());
		} else {
			srunner_add_suite(sr, e->make());
		}
	}
	if (sr == NULL) {
		fprintf(stderr, "test_unit: no suite matched\n");
		return 2;
	}
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
