/* Shared low-level helpers for every stretchlog module: a hookable allocator,
 * always-on assertions, fault injection for I/O, and key=value logging.
 *
 * Every module allocates through sl_malloc()/sl_free() so that tests can fail
 * the Nth allocation (sl_fault_arm(SL_FAULT_ALLOC, n)). I/O that tests want to
 * fail (write, fsync, open) asks sl_fault_hit() first. The fault counters are
 * process-wide and thread-safe. */
#ifndef SL_COMMON_H
#define SL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Always-on assertion for invariants (stays in release builds). */
#define SL_ASSERT(cond)                                                         \
	do {                                                                     \
		if (!(cond)) {                                                       \
			sl__assert_fail(#cond, __FILE__, __LINE__, __func__);            \
		}                                                                    \
	} while (0)

/* Debug-only assertion for expensive checks. */
#ifdef SL_DEBUG
#define SL_DASSERT(cond) SL_ASSERT(cond)
#else
#define SL_DASSERT(cond) ((void)0)
#endif

_Noreturn void sl__assert_fail(const char *expr, const char *file, int line,
			       const char *func);

#define SL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Allocation. Return NULL on failure (or on an injected failure). */
void *sl_malloc(size_t n);
void *sl_calloc(size_t count, size_t size);
void *sl_realloc(void *p, size_t n);
char *sl_strdup(const char *s);
void sl_free(void *p);

/* For long-running servers that allocate and free many buffers of up to a
 * few MiB per second (batches, frames, messages): serves them from the
 * heap and keeps freed memory (up to 256 MiB above the in-use peak) instead
 * of mapping fresh zeroed pages for every one of them (glibc's default maps
 * each allocation above its dynamic threshold, and every first touch of
 * such a page is a fault). Call once at start-up, before threads start. */
void sl_alloc_tune_for_service(void);

/* Fault injection. */
enum sl_fault_kind {
	SL_FAULT_ALLOC = 0,
	SL_FAULT_WRITE,
	SL_FAULT_FSYNC,
	SL_FAULT_OPEN,
	SL_FAULT_READ,
	SL_FAULT_KIND_COUNT
};

/* Arms a fault: the nth call (1-based) of that kind from now on fails, and so
 * does every later one if sticky is true. n <= 0 disarms. */
void sl_fault_arm(enum sl_fault_kind kind, long n, bool sticky);
/* Disarms every fault kind. */
void sl_fault_reset(void);
/* Returns true if this call of the given kind must fail. Cheap when disarmed. */
bool sl_fault_hit(enum sl_fault_kind kind);

/* Logging: one key=value line per event on stderr, levels checked before
 * formatting. */
enum sl_log_level { SL_LOG_DEBUG = 0, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR, SL_LOG_OFF };
extern enum sl_log_level sl_log_min_level;
void sl__log(enum sl_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define SL_LOG(level, ...)                                                       \
	do {                                                                     \
		if ((level) >= sl_log_min_level) {                                   \
			sl__log((level), __VA_ARGS__);                                   \
		}                                                                    \
	} while (0)

/* Monotonic and wall clocks, for the I/O edges only (policy code takes time as
 * an input). */
uint64_t sl_now_mono_ns(void);
int64_t sl_now_wall_ms(void);

#endif /* SL_COMMON_H */
