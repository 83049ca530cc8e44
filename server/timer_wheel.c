/* Shared timer wheel: O(1) schedule/cancel for many groups over one uv_timer.
 *
 * Happy path: schedule links the entry into its slot and, if it is due before
 * the tick the uv_timer is armed for, re-arms the timer. The timer callback
 * processes every tick from the cursor up to now, firing the entries of each
 * slot whose deadline has passed (entries a revolution or more away stay),
 * then arms the timer for the next non-empty slot.
 * Failure modes: none at run time; a loop stalled longer than one revolution
 * is handled by visiting each slot once. */
#include "server/timer_wheel.h"

#include <string.h>

#include "common/sl_common.h"

static uint64_t tick_of(const struct sd_wheel *w, uint64_t ms)
{
	return (ms + w->tick_ms - 1) / w->tick_ms;
}

static void unlink_entry(struct sd_wheel *w, struct sd_wheel_entry *e)
{
	if (e->prev_ != NULL) {
		e->prev_->next_ = e->next_;
	} else {
		w->slots[e->slot_] = e->next_;
	}
	if (e->next_ != NULL) {
		e->next_->prev_ = e->prev_;
	}
	e->prev_ = e->next_ = NULL;
	e->scheduled_ = false;
	w->entries--;
}

static void timer_cb(uv_timer_t *t);

static void arm(struct sd_wheel *w, uint64_t tick)
{
	uint64_t now = uv_now(w->loop);
	uint64_t at = tick * w->tick_ms;
	uint64_t delay = at > now ? at - now : 0;
	w->armed_tick = tick;
	uv_timer_start(&w->timer, timer_cb, delay, 0);
}

/* Arms the timer for the first non-empty slot at or after the cursor. */
static void arm_next(struct sd_wheel *w)
{
	w->armed_tick = 0;
	if (w->entries == 0 || w->closing) {
		uv_timer_stop(&w->timer);
		return;
	}
	for (uint32_t i = 0; i < w->slots_count; i++) {
		uint64_t tick = w->cursor_tick + i;
		if (w->slots[tick % w->slots_count] != NULL) {
			arm(w, tick);
			return;
		}
	}
	SL_ASSERT(false && "wheel has entries but no slot holds one");
}

/* Fires the due entries of one slot, one at a time, so a callback may
 * schedule or cancel any entry (including others of this slot). */
static void fire_slot(struct sd_wheel *w, uint32_t slot, uint64_t now)
{
	for (;;) {
		struct sd_wheel_entry *e = w->slots[slot];
		while (e != NULL && e->deadline_ms > now) {
			e = e->next_;
		}
		if (e == NULL) {
			return;
		}
		unlink_entry(w, e);
		w->fired++;
		e->cb(e, now);
		if (w->closing) {
			return;
		}
	}
}

static void timer_cb(uv_timer_t *t)
{
	struct sd_wheel *w = t->data;
	uint64_t now = uv_now(w->loop);
	uint64_t last = now / w->tick_ms;
	w->wakeups++;
	w->armed_tick = 0;
	if (last >= w->cursor_tick + w->slots_count) {
		/* Stalled for a whole revolution: visit every slot once. */
		w->cursor_tick = last + 1;
		for (uint32_t s = 0; s < w->slots_count && !w->closing; s++) {
			fire_slot(w, s, now);
		}
	} else {
		while (w->cursor_tick <= last && !w->closing) {
			uint64_t tick = w->cursor_tick++;
			fire_slot(w, (uint32_t)(tick % w->slots_count), now);
		}
	}
	arm_next(w);
}

int sd_wheel_init(struct sd_wheel *w, uv_loop_t *loop, uint32_t tick_ms, uint32_t slots_count)
{
	if (tick_ms == 0 || slots_count == 0 || slots_count > SD_WHEEL_SLOTS_MAX) {
		return -1;
	}
	memset(w, 0, sizeof(*w));
	w->slots = sl_calloc(slots_count, sizeof(*w->slots));
	if (w->slots == NULL) {
		return -1;
	}
	w->loop = loop;
	w->tick_ms = tick_ms;
	w->slots_count = slots_count;
	w->cursor_tick = uv_now(loop) / tick_ms;
	uv_timer_init(loop, &w->timer);
	w->timer.data = w;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	struct sd_wheel *w = h->data;
	if (w->close_cb != NULL) {
		w->close_cb(w);
	}
}

void sd_wheel_close(struct sd_wheel *w, void (*cb)(struct sd_wheel *w))
{
	SL_ASSERT(!w->closing);
	w->closing = true;
	for (uint32_t s = 0; s < w->slots_count; s++) {
		for (struct sd_wheel_entry *e = w->slots[s]; e != NULL; e = e->next_) {
			e->scheduled_ = false;
		}
	}
	sl_free(w->slots);
	w->slots = NULL;
	w->close_cb = cb;
	w->entries = 0;
	uv_close((uv_handle_t *)&w->timer, on_closed);
}

void sd_wheel_entry_init(struct sd_wheel_entry *e, sd_wheel_cb cb, void *data)
{
	memset(e, 0, sizeof(*e));
	e->cb = cb;
	e->data = data;
}

void sd_wheel_schedule(struct sd_wheel *w, struct sd_wheel_entry *e, uint64_t deadline_ms)
{
	if (w->closing) {
		return;
	}
	if (e->scheduled_) {
		unlink_entry(w, e);
	}
	uint64_t tick = tick_of(w, deadline_ms);
	if (tick < w->cursor_tick) {
		tick = w->cursor_tick;
	}
	e->deadline_ms = deadline_ms;
	e->slot_ = (uint32_t)(tick % w->slots_count);
	e->prev_ = NULL;
	e->next_ = w->slots[e->slot_];
	if (e->next_ != NULL) {
		e->next_->prev_ = e;
	}
	w->slots[e->slot_] = e;
	e->scheduled_ = true;
	w->entries++;
	if (w->armed_tick == 0 || tick < w->armed_tick) {
		arm(w, tick);
	}
}

void sd_wheel_cancel(struct sd_wheel *w, struct sd_wheel_entry *e)
{
	if (e->scheduled_ && !w->closing) {
		unlink_entry(w, e);
	}
}
