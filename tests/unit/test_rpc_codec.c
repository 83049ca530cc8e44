/* Unit tests for server/rpc_codec: round trips of every libraft message type,
 * truncation at every length, limits, hostile configurations, allocation
 * failures and a seeded fuzz loop. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/rpc_codec.h"

/* xorshift64*: deterministic, seeded randomness for tests. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Owns the entry payloads of a test AppendEntries. */
struct ae_fixture {
	struct raft_entry *entries;
	unsigned n;
};

static void ae_build(struct ae_fixture *f, struct raft_message *msg, unsigned n, uint64_t seed)
{
	memset(msg, 0, sizeof(*msg));
	f->n = n;
	f->entries = n > 0 ? calloc(n, sizeof(*f->entries)) : NULL;
	for (unsigned i = 0; i < n; i++) {
		size_t len = (size_t)(rng_next(&seed) % 3000);
		if (i % 7 == 3) {
			len = 0;
		}
		uint8_t *b = malloc(len + 1);
		for (size_t j = 0; j < len; j++) {
			b[j] = (uint8_t)rng_next(&seed);
		}
		f->entries[i].term = 1 + rng_next(&seed) % 1000;
		f->entries[i].type = (enum raft_entry_type)(1 + i % 3);
		f->entries[i].buf.base = b;
		f->entries[i].buf.len = len;
	}
	msg->type = RAFT_APPEND_ENTRIES;
	msg->append_entries.version = 0;
	msg->append_entries.term = 77;
	msg->append_entries.prev_log_index = 123456789012ULL;
	msg->append_entries.prev_log_term = 76;
	msg->append_entries.leader_commit = 123456789000ULL;
	msg->append_entries.entries = f->entries;
	msg->append_entries.n_entries = n;
}

static void ae_free(struct ae_fixture *f)
{
	for (unsigned i = 0; i < f->n; i++) {
		free(f->entries[i].buf.base);
	}
	free(f->entries);
}

static uint8_t *encode_ok(const struct raft_message *msg, size_t *len)
{
	uint8_t *buf = NULL;
	size_t total = 0;
	size_t size = 0;
	ck_assert_int_eq(sl_rpc_encoded_size(msg, &size), 0);
	ck_assert_int_eq(sl_rpc_encode(msg, 0, &buf, &total), 0);
	ck_assert_uint_eq(total, size);
	*len = total;
	return buf;
}

static void check_ae_equal(const struct raft_append_entries *a, const struct raft_append_entries *b)
{
	ck_assert_uint_eq(a->term, b->term);
	ck_assert_uint_eq(a->prev_log_index, b->prev_log_index);
	ck_assert_uint_eq(a->prev_log_term, b->prev_log_term);
	ck_assert_uint_eq(a->leader_commit, b->leader_commit);
	ck_assert_uint_eq(a->n_entries, b->n_entries);
	if (b->n_entries == 0) {
		ck_assert_ptr_null(b->entries);
		return;
	}
	const uint8_t *batch = b->entries[0].batch;
	ck_assert_ptr_nonnull(batch);
	for (unsigned i = 0; i < a->n_entries; i++) {
		const struct raft_entry *x = &a->entries[i];
		const struct raft_entry *y = &b->entries[i];
		ck_assert_uint_eq(x->term, y->term);
		ck_assert_int_eq(x->type, y->type);
		ck_assert_uint_eq(x->buf.len, y->buf.len);
		ck_assert_ptr_eq(y->batch, batch);
		ck_assert((const uint8_t *)y->buf.base >= batch);
		ck_assert(((uintptr_t)y->buf.base - (uintptr_t)batch) % 8 == 0);
		ck_assert(x->buf.len == 0 || memcmp(x->buf.base, y->buf.base, x->buf.len) == 0);
	}
}

static void roundtrip_ae(unsigned n, uint64_t seed)
{
	struct ae_fixture f;
	struct raft_message msg, out;
	size_t len;
	ae_build(&f, &msg, n, seed);
	uint8_t *buf = encode_ok(&msg, &len);
	ck_assert_int_eq(sl_rpc_decode(buf, len, NULL, &out), 0);
	ck_assert_int_eq(out.type, RAFT_APPEND_ENTRIES);
	ck_assert_uint_eq(out.server_id, 0);
	ck_assert_ptr_null(out.server_address);
	check_ae_equal(&msg.append_entries, &out.append_entries);
	sl_rpc_message_release(&out);
	sl_free(buf);
	ae_free(&f);
}

START_TEST(roundtrip_append_entries)
{
	roundtrip_ae(0, 1);
	roundtrip_ae(1, 2);
	roundtrip_ae(2, 3);
	roundtrip_ae(64, 4);
	roundtrip_ae(500, 5);
}
END_TEST

START_TEST(roundtrip_append_entries_all_empty)
{
	struct raft_entry e[3];
	memset(e, 0, sizeof(e));
	for (int i = 0; i < 3; i++) {
		e[i].term = 5;
		e[i].type = RAFT_BARRIER;
	}
	struct raft_message msg = {.type = RAFT_APPEND_ENTRIES};
	msg.append_entries.entries = e;
	msg.append_entries.n_entries = 3;
	size_t len;
	uint8_t *buf = encode_ok(&msg, &len);
	struct raft_message out;
	ck_assert_int_eq(sl_rpc_decode(buf, len, NULL, &out), 0);
	ck_assert_uint_eq(out.append_entries.n_entries, 3);
	ck_assert_ptr_nonnull(out.append_entries.entries[0].batch);
	ck_assert_ptr_nonnull(out.append_entries.entries[2].buf.base);
	sl_rpc_message_release(&out);
	sl_free(buf);
}
END_TEST

static struct raft_message decode_roundtrip(const struct raft_message *msg)
{
	size_t len;
	uint8_t *buf = encode_ok(msg, &len);
	struct raft_message out;
	ck_assert_int_eq(sl_rpc_decode(buf, len, NULL, &out), 0);
	ck_assert_int_eq(out.type, msg->type);
	sl_free(buf);
	return out;
}

START_TEST(roundtrip_small_types)
{
	struct raft_message m = {.type = RAFT_APPEND_ENTRIES_RESULT};
	m.append_entries_result = (struct raft_append_entries_result){2, 9, 0, 4242, 1, 0xFFFF};
	struct raft_message o = decode_roundtrip(&m);
	ck_assert_int_eq(o.append_entries_result.version, 2);
	ck_assert_uint_eq(o.append_entries_result.term, 9);
	ck_assert_uint_eq(o.append_entries_result.rejected, 0);
	ck_assert_uint_eq(o.append_entries_result.last_log_index, 4242);
	ck_assert_uint_eq(o.append_entries_result.features, 1);
	ck_assert_uint_eq(o.append_entries_result.capacity, 0xFFFF);

	m = (struct raft_message){.type = RAFT_REQUEST_VOTE};
	m.request_vote = (struct raft_request_vote){2, 10, 3, 100, 9, true, false};
	o = decode_roundtrip(&m);
	ck_assert_int_eq(o.request_vote.version, 2);
	ck_assert_uint_eq(o.request_vote.term, 10);
	ck_assert_uint_eq(o.request_vote.candidate_id, 3);
	ck_assert_uint_eq(o.request_vote.last_log_index, 100);
	ck_assert_uint_eq(o.request_vote.last_log_term, 9);
	ck_assert(o.request_vote.disrupt_leader && !o.request_vote.pre_vote);
	m.request_vote.disrupt_leader = false;
	m.request_vote.pre_vote = true;
	o = decode_roundtrip(&m);
	ck_assert(!o.request_vote.disrupt_leader && o.request_vote.pre_vote);

	m = (struct raft_message){.type = RAFT_REQUEST_VOTE_RESULT};
	m.request_vote_result = (struct raft_request_vote_result){2, 11, true, true, 1, 7};
	o = decode_roundtrip(&m);
	ck_assert_uint_eq(o.request_vote_result.term, 11);
	ck_assert(o.request_vote_result.vote_granted && o.request_vote_result.pre_vote);
	ck_assert_uint_eq(o.request_vote_result.features, 1);
	ck_assert_uint_eq(o.request_vote_result.capacity, 7);

	m = (struct raft_message){.type = RAFT_TIMEOUT_NOW};
	m.timeout_now = (struct raft_timeout_now){0, 12, 555, 11};
	o = decode_roundtrip(&m);
	ck_assert_uint_eq(o.timeout_now.term, 12);
	ck_assert_uint_eq(o.timeout_now.last_log_index, 555);
	ck_assert_uint_eq(o.timeout_now.last_log_term, 11);
}
END_TEST

static void build_snapshot(struct raft_message *m, size_t data_len)
{
	memset(m, 0, sizeof(*m));
	m->type = RAFT_INSTALL_SNAPSHOT;
	struct raft_install_snapshot *is = &m->install_snapshot;
	is->term = 5;
	is->last_index = 1000;
	is->last_term = 4;
	is->conf_index = 900;
	raft_configuration_init(&is->conf);
	ck_assert_int_eq(raft_configuration_add(&is->conf, 1, "10.0.0.1:9093", RAFT_VOTER), 0);
	ck_assert_int_eq(raft_configuration_add(&is->conf, 2, "10.0.0.2:9093", RAFT_STANDBY), 0);
	ck_assert_int_eq(raft_configuration_add(&is->conf, 3, "host-3:9093", RAFT_SPARE), 0);
	is->data.len = data_len;
	is->data.base = data_len > 0 ? malloc(data_len) : NULL;
	for (size_t i = 0; i < data_len; i++) {
		((uint8_t *)is->data.base)[i] = (uint8_t)(i * 7);
	}
}

START_TEST(roundtrip_install_snapshot)
{
	size_t sizes[] = {0, 1, 4097};
	for (size_t k = 0; k < SL_ARRAY_LEN(sizes); k++) {
		struct raft_message m;
		build_snapshot(&m, sizes[k]);
		struct raft_message o = decode_roundtrip(&m);
		const struct raft_install_snapshot *a = &m.install_snapshot,
						   *b = &o.install_snapshot;
		ck_assert_uint_eq(b->term, 5);
		ck_assert_uint_eq(b->last_index, 1000);
		ck_assert_uint_eq(b->last_term, 4);
		ck_assert_uint_eq(b->conf_index, 900);
		ck_assert_uint_eq(b->conf.n, 3);
		for (unsigned i = 0; i < 3; i++) {
			ck_assert_uint_eq(a->conf.servers[i].id, b->conf.servers[i].id);
			ck_assert_str_eq(a->conf.servers[i].address, b->conf.servers[i].address);
			ck_assert_int_eq(a->conf.servers[i].role, b->conf.servers[i].role);
		}
		ck_assert_uint_eq(b->data.len, sizes[k]);
		ck_assert(sizes[k] == 0 || memcmp(a->data.base, b->data.base, sizes[k]) == 0);
		sl_rpc_message_release(&o);
		raft_configuration_close(&m.install_snapshot.conf);
		free(m.install_snapshot.data.base);
	}
}
END_TEST

/* Every proper prefix of a valid encoding must fail to decode, and so must
 * the encoding with one byte appended. */
static void check_all_truncations(const uint8_t *buf, size_t len)
{
	struct raft_message out;
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *copy = malloc(cut + 1); /* exact-size copy so ASan sees overreads */
		memcpy(copy, buf, cut);
		int rv = sl_rpc_decode(copy, cut, NULL, &out);
		ck_assert_msg(rv < 0, "prefix of %zu/%zu bytes decoded", cut, len);
		free(copy);
	}
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, buf, len);
	longer[len] = 0;
	ck_assert_int_eq(sl_rpc_decode(longer, len + 1, NULL, &out), SL_RPC_EMALFORMED);
	free(longer);
}

START_TEST(truncation_every_length)
{
	unsigned counts[] = {0, 1, 9};
	for (size_t k = 0; k < SL_ARRAY_LEN(counts); k++) {
		struct ae_fixture f;
		struct raft_message msg;
		size_t len;
		ae_build(&f, &msg, counts[k], 40 + k);
		uint8_t *buf = encode_ok(&msg, &len);
		check_all_truncations(buf, len);
		sl_free(buf);
		ae_free(&f);
	}
	struct raft_message m;
	build_snapshot(&m, 100);
	size_t len;
	uint8_t *buf = encode_ok(&m, &len);
	check_all_truncations(buf, len);
	sl_free(buf);
	raft_configuration_close(&m.install_snapshot.conf);
	free(m.install_snapshot.data.base);

	m = (struct raft_message){.type = RAFT_REQUEST_VOTE_RESULT};
	buf = encode_ok(&m, &len);
	check_all_truncations(buf, len);
	sl_free(buf);
}
END_TEST

START_TEST(header_errors)
{
	struct raft_message m = {.type = RAFT_TIMEOUT_NOW}, o;
	size_t len;
	uint8_t *buf = encode_ok(&m, &len);
	buf[0] = 2;
	ck_assert_int_eq(sl_rpc_decode(buf, len, NULL, &o), SL_RPC_EVERSION);
	buf[0] = SL_RPC_CODEC_VERSION;
	buf[1] = 0;
	ck_assert_int_eq(sl_rpc_decode(buf, len, NULL, &o), SL_RPC_ETYPE);
	buf[1] = 7;
	ck_assert_int_eq(sl_rpc_decode(buf, len, NULL, &o), SL_RPC_ETYPE);
	buf[1] = RAFT_TIMEOUT_NOW;
	buf[3] = 1;
	ck_assert_int_eq(sl_rpc_decode(buf, len, NULL, &o), SL_RPC_EMALFORMED);
	buf[3] = 0;
	ck_assert_int_eq(sl_rpc_decode(buf, len, NULL, &o), 0);
	sl_free(buf);

	m = (struct raft_message){.type = RAFT_REQUEST_VOTE};
	buf = encode_ok(&m, &len);
	buf[len - 1] = 0x04; /* undefined flag bit */
	ck_assert_int_eq(sl_rpc_decode(buf, len, NULL, &o), SL_RPC_EMALFORMED);
	sl_free(buf);
	ck_assert_str_eq(sl_rpc_err_name(SL_RPC_ETRUNCATED), "SL_RPC_ETRUNCATED");
	ck_assert_str_eq(sl_rpc_strerror(1234), "unknown error");
}
END_TEST

START_TEST(limits_enforced)
{
	struct ae_fixture f;
	struct raft_message msg, out;
	size_t len;
	ae_build(&f, &msg, 5, 9);
	free(f.entries[2].buf.base);
	f.entries[2].buf.base = calloc(1, 2000);
	f.entries[2].buf.len = 2000;
	uint8_t *buf = encode_ok(&msg, &len);
	struct sl_rpc_limits lim = {.entry_bytes_max = 1999};
	ck_assert_int_eq(sl_rpc_decode(buf, len, &lim, &out), SL_RPC_ETOOBIG);
	lim.entry_bytes_max = 2999;
	ck_assert_int_eq(sl_rpc_decode(buf, len, &lim, &out), 0);
	sl_rpc_message_release(&out);
	lim.entries_count_max = 4;
	ck_assert_int_eq(sl_rpc_decode(buf, len, &lim, &out), SL_RPC_ETOOBIG);
	/* A count that claims more headers than bytes remain. */
	buf[4 + 32] = 0x7F;
	ck_assert_int_eq(sl_rpc_decode(buf, len, NULL, &out), SL_RPC_ETRUNCATED);
	sl_free(buf);
	ae_free(&f);

	build_snapshot(&msg, 64);
	buf = encode_ok(&msg, &len);
	lim = (struct sl_rpc_limits){.snapshot_data_bytes_max = 63};
	ck_assert_int_eq(sl_rpc_decode(buf, len, &lim, &out), SL_RPC_ETOOBIG);
	sl_free(buf);
	raft_configuration_close(&msg.install_snapshot.conf);
	free(msg.install_snapshot.data.base);
}
END_TEST

/* Builds an InstallSnapshot whose configuration bytes are the given ones. */
static size_t snapshot_with_conf(uint8_t *out, const uint8_t *conf, size_t conf_len)
{
	size_t n = 0;
	out[n++] = SL_RPC_CODEC_VERSION;
	out[n++] = RAFT_INSTALL_SNAPSHOT;
	out[n++] = 0;
	out[n++] = 0;
	memset(out + n, 0, 32);
	n += 32;
	out[n++] = (uint8_t)(conf_len >> 24);
	out[n++] = (uint8_t)(conf_len >> 16);
	out[n++] = (uint8_t)(conf_len >> 8);
	out[n++] = (uint8_t)conf_len;
	memcpy(out + n, conf, conf_len);
	n += conf_len;
	memset(out + n, 0, 4);
	return n + 4;
}

START_TEST(hostile_configurations)
{
	/* format, count (LE), id (LE), address, role, padding */
	static const uint8_t good[] = {1, 1, 0, 0, 0, 0,   0,	0,   0, 7, 0, 0,
				       0, 0, 0, 0, 0, 'a', ':', '1', 0, 1, 0, 0};
	uint8_t conf[64], msg[256];
	struct raft_message o;
	size_t n = snapshot_with_conf(msg, good, sizeof(good));
	ck_assert_int_eq(sl_rpc_decode(msg, n, NULL, &o), 0);
	ck_assert_uint_eq(o.install_snapshot.conf.n, 1);
	ck_assert_uint_eq(o.install_snapshot.conf.servers[0].id, 7);
	sl_rpc_message_release(&o);

	struct {
		size_t at;
		uint8_t value;
		int want;
	} cases[] = {
	    {0, 2, SL_RPC_EMALFORMED},	/* unknown format */
	    {1, 2, SL_RPC_EMALFORMED},	/* two servers, only one present */
	    {8, 0x01, SL_RPC_ETOOBIG},	/* huge count */
	    {9, 0, SL_RPC_EMALFORMED},	/* id 0 */
	    {21, 9, SL_RPC_EMALFORMED}, /* unknown role */
	    {23, 1, SL_RPC_EMALFORMED}, /* non-zero padding */
	    {17, 0, SL_RPC_EMALFORMED}, /* empty address */
	};
	for (size_t k = 0; k < SL_ARRAY_LEN(cases); k++) {
		memcpy(conf, good, sizeof(good));
		conf[cases[k].at] = cases[k].value;
		n = snapshot_with_conf(msg, conf, sizeof(good));
		ck_assert_int_eq(sl_rpc_decode(msg, n, NULL, &o), cases[k].want);
	}
	/* Duplicate id: two servers with id 7 and different addresses. */
	static const uint8_t dup[] = {1, 2,   0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0,	 0, 0, 0,
				      0, 'a', 0, 1, 7, 0, 0, 0, 0, 0, 0, 0, 'b', 0, 1, 0};
	n = snapshot_with_conf(msg, dup, sizeof(dup));
	ck_assert_int_eq(sl_rpc_decode(msg, n, NULL, &o), SL_RPC_EMALFORMED);
	for (size_t cut = 0; cut < sizeof(good); cut++) {
		n = snapshot_with_conf(msg, good, cut);
		ck_assert_int_lt(sl_rpc_decode(msg, n, NULL, &o), 0);
	}
}
END_TEST

START_TEST(encode_rejects_bad_input)
{
	struct raft_message m = {.type = (enum raft_message_type)9};
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(sl_rpc_encode(&m, 0, &buf, &len), SL_RPC_EINVAL);
	struct raft_entry e = {.term = 1, .type = RAFT_COMMAND, .buf = {NULL, 5}};
	m = (struct raft_message){.type = RAFT_APPEND_ENTRIES};
	m.append_entries.entries = &e;
	m.append_entries.n_entries = 1;
	ck_assert_int_eq(sl_rpc_encode(&m, 0, &buf, &len), SL_RPC_EINVAL);
	e.buf.base = "hello";
	e.type = (enum raft_entry_type)0;
	ck_assert_int_eq(sl_rpc_encode(&m, 0, &buf, &len), SL_RPC_EINVAL);
	e.type = RAFT_COMMAND;
	uint8_t small[16];
	ck_assert_int_eq(sl_rpc_encode_to(&m, small, sizeof(small), &len), SL_RPC_ETOOBIG);
	uint8_t big[128];
	ck_assert_int_eq(sl_rpc_encode_to(&m, big, sizeof(big), &len), 0);
	ck_assert_uint_eq(len, 4 + 36 + 16 + 5);
	/* Headroom is left in front of the message. */
	ck_assert_int_eq(sl_rpc_encode(&m, 24, &buf, &len), 0);
	ck_assert_uint_eq(len, 24 + 4 + 36 + 16 + 5);
	ck_assert_int_eq(memcmp(buf + 24, big, len - 24), 0);
	sl_free(buf);
	sl_fault_arm(SL_FAULT_ALLOC, 1, false);
	ck_assert_int_eq(sl_rpc_encode(&m, 0, &buf, &len), SL_RPC_ENOMEM);
	sl_fault_reset();
}
END_TEST

/* A raft heap that fails the Nth allocation, to sweep decode's error paths. */
static long heap_countdown;
static long heap_live;

static void *heap_malloc(void *data, size_t size)
{
	(void)data;
	if (heap_countdown > 0 && --heap_countdown == 0) {
		return NULL;
	}
	heap_live++;
	return malloc(size);
}

static void heap_free(void *data, void *ptr)
{
	(void)data;
	if (ptr != NULL) {
		heap_live--;
	}
	free(ptr);
}

static void *heap_calloc(void *data, size_t nmemb, size_t size)
{
	(void)data;
	if (heap_countdown > 0 && --heap_countdown == 0) {
		return NULL;
	}
	heap_live++;
	return calloc(nmemb, size);
}

static void *heap_realloc(void *data, void *ptr, size_t size)
{
	(void)data;
	if (heap_countdown > 0 && --heap_countdown == 0) {
		return NULL;
	}
	if (ptr == NULL) {
		heap_live++;
	}
	return realloc(ptr, size);
}

START_TEST(decode_allocation_failures)
{
	struct raft_heap heap = {NULL,	       heap_malloc, heap_free, heap_calloc,
				 heap_realloc, NULL,	    NULL};
	struct raft_message m, o;
	struct ae_fixture f;
	size_t ae_len, is_len;
	ae_build(&f, &m, 4, 77);
	uint8_t *ae = encode_ok(&m, &ae_len);
	ae_free(&f);
	build_snapshot(&m, 10);
	uint8_t *is = encode_ok(&m, &is_len);
	raft_configuration_close(&m.install_snapshot.conf);
	free(m.install_snapshot.data.base);

	raft_heap_set(&heap);
	const uint8_t *bufs[] = {ae, is};
	size_t lens[] = {ae_len, is_len};
	for (int k = 0; k < 2; k++) {
		for (long nth = 1;; nth++) {
			heap_countdown = nth;
			heap_live = 0;
			int rv = sl_rpc_decode(bufs[k], lens[k], NULL, &o);
			if (rv == 0) {
				sl_rpc_message_release(&o);
				ck_assert_int_eq(heap_live, 0);
				break;
			}
			ck_assert_int_eq(rv, SL_RPC_ENOMEM);
			ck_assert_int_eq(heap_live, 0);
		}
	}
	raft_heap_set_default();
	sl_free(ae);
	sl_free(is);
}
END_TEST

/* Decodes buf; a success must re-encode to the very same bytes. */
static int fuzz_one(const uint8_t *buf, size_t len)
{
	struct raft_message o;
	struct sl_rpc_limits lim = {.entry_bytes_max = 4096, .entries_count_max = 1024};
	int rv = sl_rpc_decode(buf, len, &lim, &o);
	if (rv != 0) {
		ck_assert_int_lt(rv, 0);
		return 0;
	}
	uint8_t out[8192];
	size_t n = 0;
	ck_assert_int_eq(sl_rpc_encode_to(&o, out, sizeof(out), &n), 0);
	ck_assert_uint_eq(n, len);
	ck_assert_int_eq(memcmp(out, buf, len), 0);
	sl_rpc_message_release(&o);
	return 1;
}

START_TEST(fuzz_random_and_mutated)
{
	uint64_t seed = 0x5EED5EEDULL;
	uint8_t buf[4096];
	int decoded = 0;
	/* Pure random bytes, with a plausible header half of the time. */
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rng_next(&seed) % 200);
		for (size_t j = 0; j < len; j++) {
			buf[j] = (uint8_t)rng_next(&seed);
		}
		if (len >= 4 && (i & 1)) {
			buf[0] = SL_RPC_CODEC_VERSION;
			buf[1] = (uint8_t)(1 + rng_next(&seed) % 6);
			buf[3] = 0;
		}
		decoded += fuzz_one(buf, len);
	}
	/* Mutations of valid encodings of every type. */
	struct ae_fixture f;
	struct raft_message seeds[6];
	ae_build(&f, &seeds[0], 3, 99);
	f.entries[0].buf.len = 10;
	f.entries[1].buf.len = 0;
	f.entries[2].buf.len = 33;
	seeds[1] = (struct raft_message){.type = RAFT_APPEND_ENTRIES_RESULT};
	seeds[2] = (struct raft_message){.type = RAFT_REQUEST_VOTE};
	seeds[3] = (struct raft_message){.type = RAFT_REQUEST_VOTE_RESULT};
	build_snapshot(&seeds[4], 20);
	seeds[5] = (struct raft_message){.type = RAFT_TIMEOUT_NOW};
	for (int s = 0; s < 6; s++) {
		size_t len;
		uint8_t *enc = encode_ok(&seeds[s], &len);
		ck_assert_uint_le(len, sizeof(buf));
		for (int i = 0; i < 5000; i++) {
			memcpy(buf, enc, len);
			int flips = 1 + (int)(rng_next(&seed) % 4);
			for (int k = 0; k < flips; k++) {
				size_t at = (size_t)(rng_next(&seed) % len);
				buf[at] = (i & 1)
					      ? (uint8_t)rng_next(&seed)
					      : (uint8_t)(buf[at] ^ (1u << (rng_next(&seed) % 8)));
			}
			size_t cut = (i % 5 == 0) ? (size_t)(rng_next(&seed) % (len + 1)) : len;
			uint8_t *exact = malloc(cut + 1);
			memcpy(exact, buf, cut);
			decoded += fuzz_one(exact, cut);
			free(exact);
		}
		sl_free(enc);
	}
	ae_free(&f);
	raft_configuration_close(&seeds[4].install_snapshot.conf);
	free(seeds[4].install_snapshot.data.base);
	ck_assert_int_gt(decoded, 0);
}
END_TEST

Suite *rpc_codec_suite(void)
{
	Suite *s = suite_create("rpc_codec");
	TCase *tc = tcase_create("roundtrip");
	tcase_add_test(tc, roundtrip_append_entries);
	tcase_add_test(tc, roundtrip_append_entries_all_empty);
	tcase_add_test(tc, roundtrip_small_types);
	tcase_add_test(tc, roundtrip_install_snapshot);
	suite_add_tcase(s, tc);
	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, truncation_every_length);
	tcase_add_test(tc, header_errors);
	tcase_add_test(tc, limits_enforced);
	tcase_add_test(tc, hostile_configurations);
	tcase_add_test(tc, encode_rejects_bad_input);
	tcase_add_test(tc, decode_allocation_failures);
	tcase_add_test(tc, fuzz_random_and_mutated);
	suite_add_tcase(s, tc);
	return s;
}
