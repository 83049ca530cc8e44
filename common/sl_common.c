/* Implementation of the shared helpers declared in sl_common.h. */
#include "sl_common.h"

#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void sl__assert_fail(const char *expr, const char *file, int line, const char *func)
{
	fprintf(stderr, "level=fatal event=assertion_failed expr=\"%s\" at=%s:%d func=%s\n",
		expr, file, line, func);
	fflush(stderr);
	abort();
}

struct fault {
	atomic_long countdown; /* calls left before the failing one; 0 = disarmed */
	atomic_bool sticky;
	atomic_bool fired;
};

static struct fault faults[SL_FAULT_KIND_COUNT];
static atomic_int faults_armed;

void sl_fault_arm(enum sl_fault_kind kind, long n, bool sticky)
{
	struct fault *f = &faults[kind];
	atomic_store(&f->fired, false);
	atomic_store(&f->sticky, sticky);
	atomic_store(&f->countdown, n > 0 ? n : 0);
	int armed = 0;
	for (int i = 0; i < SL_FAULT_KIND_COUNT; i++) {
		armed |= atomic_load(&faults[i].countdown) > 0;
	}
	atomic_store(&faults_armed, armed);
}

void sl_fault_reset(void)
{
	for (int i = 0; i < SL_FAULT_KIND_COUNT; i++) {
		sl_fault_arm((enum sl_fault_kind)i, 0, false);
	}
}

bool sl_fault_hit(enum sl_fault_kind kind)
{
	if (!atomic_load_explicit(&faults_armed, memory_order_relaxed)) {
		return false;
	}
	struct fault *f = &faults[kind];
	if (atomic_load(&f->fired)) {
		return atomic_load(&f->sticky);
	}
	long left = atomic_load(&f->countdown);
	while (left > 0) {
		if (atomic_compare_exchange_weak(&f->countdown, &left, left - 1)) {
			if (left == 1) {
				atomic_store(&f->fired, true);
				return true;
			}
			return false;
		}
	}
	return false;
}

void *sl_malloc(size_t n)
{
	if (sl_fault_hit(SL_FAULT_ALLOC)) {
		return NULL;
	}
	return malloc(n == 0 ? 1 : n);
}

void *sl_calloc(size_t count, size_t size)
{
	if (sl_fault_hit(SL_FAULT_ALLOC)) {
		return NULL;
	}
	return calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);
}

void *sl_realloc(void *p, size_t n)
{
	if (sl_fault_hit(SL_FAULT_ALLOC)) {
		return NULL;
	}
	return realloc(p, n == 0 ? 1 : n);
}

char *sl_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = sl_malloc(n);
	if (d != NULL) {
		memcpy(d, s, n);
	}
	return d;
}

void sl_alloc_tune_for_service(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, 64 << 20);
	(void)mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

void sl_free(void *p)
{
	free(p);
}

enum sl_log_level sl_log_min_level = SL_LOG_INFO;

void sl__log(enum sl_log_level level, const char *fmt, ...)
{
	static const char *names[] = {"debug", "info", "warn", "error", "off"};
	char line[1024];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int n = snprintf(line, sizeof(line), "ts=%lld.%03ld level=%s ", (long long)ts.tv_sec,
			 ts.tv_nsec / 1000000, names[level]);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line)) {
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	}
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

uint64_t sl_now_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t sl_now_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
