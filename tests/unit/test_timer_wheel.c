/* Unit tests for the shared timer wheel: entries fire at or after their
 * deadline and about one tick late at most, cancel and reschedule work, a
 * callback may reschedule itself, and a stalled loop loses nothing. */
#include <check.h>
#include <stdlib.h>
#include <unistd.h>

#include "server/timer_wheel.h"

#define NE 300

struct rec {
	struct sd_wheel_entry e;
	uint64_t deadline;
	uint64_t fired_at;
	int fires;
	int repeat; /* reschedule itself this many times */
};

static struct sd_wheel *wheel_of_test;

static void on_fire(struct sd_wheel_entry *e, uint64_t now_ms)
{
	struct rec *r = e->data;
	r->fires++;
	r->fired_at = now_ms;
	ck_assert_uint_ge(now_ms, r->deadline);
	if (r->repeat > 0) {
		r->repeat--;
		r->deadline = now_ms + 3;
		sd_wheel_schedule(wheel_of_test, e, r->deadline);
	}
}

static void run_until_idle(uv_loop_t *loop, struct sd_wheel *w)
{
	while (w->entries > 0) {
		uv_run(loop, UV_RUN_ONCE);
	}
}

START_TEST(test_fires_in_order_of_deadline)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct sd_wheel w;
	ck_assert_int_eq(sd_wheel_init(&w, &loop, 2, 64), 0);
	wheel_of_test = &w;
	static struct rec r[NE];
	srand(7);
	uint64_t now = uv_now(&loop);
	for (int i = 0; i < NE; i++) {
		r[i] = (struct rec){0};
		sd_wheel_entry_init(&r[i].e, on_fire, &r[i]);
		/* Deadlines up to ~3 revolutions away, some in the past. */
		r[i].deadline = now + (uint64_t)(rand() % 400) - 5;
		r[i].repeat = i % 7 == 0 ? 3 : 0;
		sd_wheel_schedule(&w, &r[i].e, r[i].deadline);
	}
	/* Cancel a few and move a few. */
	for (int i = 1; i < NE; i += 10) {
		sd_wheel_cancel(&w, &r[i].e);
	}
	for (int i = 2; i < NE; i += 10) {
		r[i].deadline = now + 50;
		sd_wheel_schedule(&w, &r[i].e, r[i].deadline);
	}
	run_until_idle(&loop, &w);
	for (int i = 0; i < NE; i++) {
		if (i % 10 == 1) {
			ck_assert_int_eq(r[i].fires, 0);
			continue;
		}
		ck_assert_int_eq(r[i].fires, i % 7 == 0 ? 4 : 1);
		/* Never early (checked in on_fire); late by a tick plus loop noise. */
		ck_assert_uint_le(r[i].fired_at, r[i].deadline + 2 + 50);
	}
	ck_assert_uint_eq(w.entries, 0);
	sd_wheel_close(&w, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_stalled_loop_fires_everything)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct sd_wheel w;
	ck_assert_int_eq(sd_wheel_init(&w, &loop, 1, 8), 0);
	wheel_of_test = &w;
	static struct rec r[40];
	uint64_t now = uv_now(&loop);
	for (int i = 0; i < 40; i++) {
		r[i] = (struct rec){0};
		sd_wheel_entry_init(&r[i].e, on_fire, &r[i]);
		r[i].deadline = now + 1 + (uint64_t)i;
		sd_wheel_schedule(&w, &r[i].e, r[i].deadline);
	}
	usleep(60 * 1000); /* longer than a revolution (8 ms) */
	uv_update_time(&loop);
	run_until_idle(&loop, &w);
	for (int i = 0; i < 40; i++) {
		ck_assert_int_eq(r[i].fires, 1);
	}
	sd_wheel_close(&w, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_bad_arguments)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct sd_wheel w;
	ck_assert_int_eq(sd_wheel_init(&w, &loop, 0, 8), -1);
	ck_assert_int_eq(sd_wheel_init(&w, &loop, 1, 0), -1);
	ck_assert_int_eq(sd_wheel_init(&w, &loop, 1, SD_WHEEL_SLOTS_MAX + 1), -1);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

Suite *timer_wheel_suite(void)
{
	Suite *s = suite_create("timer_wheel");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_fires_in_order_of_deadline);
	tcase_add_test(tc, test_stalled_loop_fires_everything);
	tcase_add_test(tc, test_bad_arguments);
	suite_add_tcase(s, tc);
	return s;
}
