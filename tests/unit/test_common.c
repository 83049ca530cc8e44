/* Unit tests for common/: allocator fault injection. */
#include <check.h>
#include <stdlib.h>

#include "common/sl_common.h"

START_TEST(alloc_fails_nth)
{
	sl_fault_arm(SL_FAULT_ALLOC, 3, false);
	void *a = sl_malloc(8);
	void *b = sl_malloc(8);
	void *c = sl_malloc(8);
	void *d = sl_malloc(8);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(d);
	sl_free(a);
	sl_free(b);
	sl_free(d);
	sl_fault_reset();
}
END_TEST

START_TEST(fault_sticky)
{
	sl_fault_arm(SL_FAULT_FSYNC, 2, true);
	ck_assert(!sl_fault_hit(SL_FAULT_FSYNC));
	ck_assert(sl_fault_hit(SL_FAULT_FSYNC));
	ck_assert(sl_fault_hit(SL_FAULT_FSYNC));
	ck_assert(!sl_fault_hit(SL_FAULT_WRITE));
	sl_fault_reset();
	ck_assert(!sl_fault_hit(SL_FAULT_FSYNC));
}
END_TEST

Suite *common_suite(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("fault");
	tcase_add_test(tc, alloc_fails_nth);
	tcase_add_test(tc, fault_sticky);
	suite_add_tcase(s, tc);
	return s;
}
