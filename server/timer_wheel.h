/* Shared timer wheel: one uv_timer for every Raft group of a broker.
 *
 * Hundreds of groups each need a callback at their own deadline (heartbeat
 * or election timeout), re-armed after nearly every step. A uv_timer per
 * group would cost a heap operation per re-arm; the wheel costs O(1): time
 * is cut into ticks of tick_ms, an entry goes into slot
 * (deadline / tick_ms) % slots_count with a count of whole revolutions left,
 * and one uv_timer wakes the loop at the next tick that has an entry. Entries
 * fire at or after their deadline, at most one tick late, never early.
 *
 * The wheel reads time from uv_now() of its loop (a monotonic millisecond
 * clock), so callers pass deadlines in that clock.
 *
 * Threads: loop thread only. */
#ifndef SD_TIMER_WHEEL_H
#define SD_TIMER_WHEEL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct sd_wheel;
struct sd_wheel_entry;

/* Called once when the entry's deadline has passed; the entry is no longer
 * scheduled and may be scheduled again from inside the callback. */
typedef void (*sd_wheel_cb)(struct sd_wheel_entry *e, uint64_t now_ms);

/* Caller-owned entry; initialize with sd_wheel_entry_init(). Only data is
 * for the caller. */
struct sd_wheel_entry {
	void *data;
	sd_wheel_cb cb;
	uint64_t deadline_ms;             /* private */
	struct sd_wheel_entry *prev_, *next_; /* private: slot list */
	uint32_t slot_;                   /* private */
	bool scheduled_;                  /* private */
};

/* Most slots a wheel may have. */
#define SD_WHEEL_SLOTS_MAX 65536u

struct sd_wheel {
	uv_loop_t *loop;
	uv_timer_t timer;
	uint32_t tick_ms;
	uint32_t slots_count;
	struct sd_wheel_entry **slots;  /* heads of the slot lists */
	uint64_t cursor_tick;           /* next tick to process */
	uint64_t armed_tick;            /* tick the uv_timer is armed for, or 0 */
	uint64_t entries;               /* scheduled entries */
	uint64_t fired;                 /* callbacks run since init */
	uint64_t wakeups;               /* uv_timer callbacks since init */
	bool closing;
	void (*close_cb)(struct sd_wheel *w);
};

/* Prepares w on loop with ticks of tick_ms (>= 1) and slots_count slots
 * (1..SD_WHEEL_SLOTS_MAX). Returns 0, or -1 on bad arguments or no memory. */
int sd_wheel_init(struct sd_wheel *w, uv_loop_t *loop, uint32_t tick_ms, uint32_t slots_count);

/* Closes the wheel's timer handle; every scheduled entry is dropped without
 * its callback. cb (may be NULL) runs from the loop when the handle is
 * closed, after which w's memory may be released. */
void sd_wheel_close(struct sd_wheel *w, void (*cb)(struct sd_wheel *w));

/* Sets up e with its callback; it starts unscheduled. */
void sd_wheel_entry_init(struct sd_wheel_entry *e, sd_wheel_cb cb, void *data);

/* Schedules e at deadline_ms (uv_now clock), replacing an earlier schedule.
 * A deadline in the past fires at the next tick, never inside this call. */
void sd_wheel_schedule(struct sd_wheel *w, struct sd_wheel_entry *e, uint64_t deadline_ms);

/* Unschedules e (no-op if it is not scheduled). */
void sd_wheel_cancel(struct sd_wheel *w, struct sd_wheel_entry *e);

#endif /* SD_TIMER_WHEEL_H */
