/* Encoding and decoding of libraft messages; the format is in rpc_codec.h.
 *
 * Decoding checks every length against the bytes that remain (and against the
 * caller's limits) before it allocates or copies anything, so a hostile
 * message costs at most one allocation of its own size. libraft's
 * raft_configuration_decode() trusts its input, so the configuration inside an
 * InstallSnapshot is walked and checked here first. */
#include "server/rpc_codec.h"

#include <string.h>

#include "common/sl_common.h"
#include "server/rpc_bytes.h"

const char *sl_rpc_strerror(int rv)
{
	switch (rv) {
#define SL_RPC_ERR_TEXT(name, value, text)                                                         \
	case value:                                                                                \
		return text;
		SL_RPC_ERRORS(SL_RPC_ERR_TEXT)
#undef SL_RPC_ERR_TEXT
	default:
		return "unknown error";
	}
}

const char *sl_rpc_err_name(int rv)
{
	switch (rv) {
#define SL_RPC_ERR_NAME(name, value, text)                                                         \
	case value:                                                                                \
		return #name;
		SL_RPC_ERRORS(SL_RPC_ERR_NAME)
#undef SL_RPC_ERR_NAME
	default:
		return "SL_RPC_UNKNOWN";
	}
}

/* Fixed body sizes after the 4-byte header. */
enum {
	AE_FIXED_BYTES = 8 * 4 + 4,
	AER_BYTES = 8 * 3 + 2 + 2,
	RV_BYTES = 8 * 4 + 1,
	RVR_BYTES = 8 + 1 + 2 + 2,
	IS_FIXED_BYTES = 8 * 4 + 4 + 4,
	TN_BYTES = 8 * 3,
};

#define RV_FLAG_DISRUPT_LEADER 0x01u
#define RV_FLAG_PRE_VOTE       0x02u
#define RVR_FLAG_GRANTED       0x01u
#define RVR_FLAG_PRE_VOTE      0x02u

/* libraft's configuration encoding format version (configuration.c). */
#define RAFT_CONF_FORMAT 1

static bool entry_type_valid(unsigned type)
{
	return type == RAFT_COMMAND || type == RAFT_BARRIER || type == RAFT_CHANGE;
}

static size_t align8(size_t n)
{
	return (n + 7u) & ~(size_t)7u;
}

/* Adds b to *a, failing on overflow. */
static bool add_size(size_t *a, size_t b)
{
	if (*a > SIZE_MAX - b) {
		return false;
	}
	*a += b;
	return true;
}

static int append_entries_size(const struct raft_append_entries *ae, size_t *size)
{
	size_t n = SL_RPC_HEADER_BYTES + AE_FIXED_BYTES;
	if (ae->n_entries > 0 && ae->entries == NULL) {
		return SL_RPC_EINVAL;
	}
	_Static_assert(sizeof(ae->n_entries) <= sizeof(uint32_t), "n_entries fits its u32 field");
	for (unsigned i = 0; i < ae->n_entries; i++) {
		const struct raft_entry *e = &ae->entries[i];
		if (!entry_type_valid((unsigned)e->type) ||
		    (e->buf.len > 0 && e->buf.base == NULL)) {
			return SL_RPC_EINVAL;
		}
		if ((uint64_t)e->buf.len > UINT32_MAX) {
			return SL_RPC_ETOOBIG;
		}
		if (!add_size(&n, SL_RPC_ENTRY_HEADER_BYTES) || !add_size(&n, e->buf.len)) {
			return SL_RPC_ETOOBIG;
		}
	}
	*size = n;
	return 0;
}

/* Encodes the snapshot's configuration with libraft; *conf is raft_malloc()'d
 * on success. */
static int encode_conf(const struct raft_install_snapshot *is, struct raft_buffer *conf)
{
	int rv = raft_configuration_encode(&is->conf, conf);
	if (rv == RAFT_NOMEM) {
		return SL_RPC_ENOMEM;
	}
	if (rv != 0) {
		return SL_RPC_EINVAL;
	}
	if ((uint64_t)conf->len > UINT32_MAX) {
		raft_free(conf->base);
		return SL_RPC_ETOOBIG;
	}
	return 0;
}

static int install_snapshot_size(const struct raft_install_snapshot *is, size_t conf_len,
				 size_t *size)
{
	size_t n = SL_RPC_HEADER_BYTES + IS_FIXED_BYTES;
	if (is->data.len > 0 && is->data.base == NULL) {
		return SL_RPC_EINVAL;
	}
	if ((uint64_t)is->data.len > UINT32_MAX || !add_size(&n, conf_len) ||
	    !add_size(&n, is->data.len)) {
		return SL_RPC_ETOOBIG;
	}
	*size = n;
	return 0;
}

/* Size of everything but an InstallSnapshot's configuration, which the caller
 * encodes. */
static int body_size(const struct raft_message *msg, size_t conf_len, size_t *size)
{
	switch (msg->type) {
	case RAFT_APPEND_ENTRIES:
		return append_entries_size(&msg->append_entries, size);
	case RAFT_APPEND_ENTRIES_RESULT:
		*size = SL_RPC_HEADER_BYTES + AER_BYTES;
		return 0;
	case RAFT_REQUEST_VOTE:
		*size = SL_RPC_HEADER_BYTES + RV_BYTES;
		return 0;
	case RAFT_REQUEST_VOTE_RESULT:
		*size = SL_RPC_HEADER_BYTES + RVR_BYTES;
		return 0;
	case RAFT_INSTALL_SNAPSHOT:
		return install_snapshot_size(&msg->install_snapshot, conf_len, size);
	case RAFT_TIMEOUT_NOW:
		*size = SL_RPC_HEADER_BYTES + TN_BYTES;
		return 0;
	default:
		return SL_RPC_EINVAL;
	}
}

int sl_rpc_encoded_size(const struct raft_message *msg, size_t *size_out)
{
	struct raft_buffer conf = {NULL, 0};
	if (msg->type == RAFT_INSTALL_SNAPSHOT) {
		int rv = encode_conf(&msg->install_snapshot, &conf);
		if (rv != 0) {
			return rv;
		}
	}
	int rv = body_size(msg, conf.len, size_out);
	raft_free(conf.base);
	return rv;
}

static unsigned char raft_version_of(const struct raft_message *msg)
{
	switch (msg->type) {
	case RAFT_APPEND_ENTRIES:
		return msg->append_entries.version;
	case RAFT_APPEND_ENTRIES_RESULT:
		return msg->append_entries_result.version;
	case RAFT_REQUEST_VOTE:
		return msg->request_vote.version;
	case RAFT_REQUEST_VOTE_RESULT:
		return msg->request_vote_result.version;
	case RAFT_INSTALL_SNAPSHOT:
		return msg->install_snapshot.version;
	default:
		return msg->timeout_now.version;
	}
}

static void put_append_entries(struct sl__wr *w, const struct raft_append_entries *ae)
{
	sl__wr_u64(w, ae->term);
	sl__wr_u64(w, ae->prev_log_index);
	sl__wr_u64(w, ae->prev_log_term);
	sl__wr_u64(w, ae->leader_commit);
	sl__wr_u32(w, ae->n_entries);
	for (unsigned i = 0; i < ae->n_entries; i++) {
		const struct raft_entry *e = &ae->entries[i];
		sl__wr_u64(w, e->term);
		sl__wr_u8(w, (uint8_t)e->type);
		sl__wr_u8(w, 0);
		sl__wr_u16(w, 0);
		sl__wr_u32(w, (uint32_t)e->buf.len);
	}
	for (unsigned i = 0; i < ae->n_entries; i++) {
		sl__wr_bytes(w, ae->entries[i].buf.base, ae->entries[i].buf.len);
	}
}

static void put_body(struct sl__wr *w, const struct raft_message *msg,
		     const struct raft_buffer *conf)
{
	const struct raft_append_entries_result *aer = &msg->append_entries_result;
	const struct raft_request_vote *rv = &msg->request_vote;
	const struct raft_request_vote_result *rvr = &msg->request_vote_result;
	const struct raft_install_snapshot *is = &msg->install_snapshot;
	const struct raft_timeout_now *tn = &msg->timeout_now;

	switch (msg->type) {
	case RAFT_APPEND_ENTRIES:
		put_append_entries(w, &msg->append_entries);
		break;
	case RAFT_APPEND_ENTRIES_RESULT:
		sl__wr_u64(w, aer->term);
		sl__wr_u64(w, aer->rejected);
		sl__wr_u64(w, aer->last_log_index);
		sl__wr_u16(w, aer->features);
		sl__wr_u16(w, aer->capacity);
		break;
	case RAFT_REQUEST_VOTE:
		sl__wr_u64(w, rv->term);
		sl__wr_u64(w, rv->candidate_id);
		sl__wr_u64(w, rv->last_log_index);
		sl__wr_u64(w, rv->last_log_term);
		sl__wr_u8(w, (uint8_t)((rv->disrupt_leader ? RV_FLAG_DISRUPT_LEADER : 0u) |
				       (rv->pre_vote ? RV_FLAG_PRE_VOTE : 0u)));
		break;
	case RAFT_REQUEST_VOTE_RESULT:
		sl__wr_u64(w, rvr->term);
		sl__wr_u8(w, (uint8_t)((rvr->vote_granted ? RVR_FLAG_GRANTED : 0u) |
				       (rvr->pre_vote ? RVR_FLAG_PRE_VOTE : 0u)));
		sl__wr_u16(w, rvr->features);
		sl__wr_u16(w, rvr->capacity);
		break;
	case RAFT_INSTALL_SNAPSHOT:
		sl__wr_u64(w, is->term);
		sl__wr_u64(w, is->last_index);
		sl__wr_u64(w, is->last_term);
		sl__wr_u64(w, is->conf_index);
		sl__wr_u32(w, (uint32_t)conf->len);
		sl__wr_bytes(w, conf->base, conf->len);
		sl__wr_u32(w, (uint32_t)is->data.len);
		sl__wr_bytes(w, is->data.base, is->data.len);
		break;
	default:
		sl__wr_u64(w, tn->term);
		sl__wr_u64(w, tn->last_log_index);
		sl__wr_u64(w, tn->last_log_term);
		break;
	}
}

/* Encodes msg into buf (cap bytes); fails with SL_RPC_ETOOBIG if it does not
 * fit. */
static int encode_into(const struct raft_message *msg, uint8_t *buf, size_t cap, size_t *len_out)
{
	struct raft_buffer conf = {NULL, 0};
	size_t size = 0;
	int rv;

	if (msg->type == RAFT_INSTALL_SNAPSHOT) {
		rv = encode_conf(&msg->install_snapshot, &conf);
		if (rv != 0) {
			return rv;
		}
	}
	rv = body_size(msg, conf.len, &size);
	if (rv != 0) {
		goto out;
	}
	if (cap < size) {
		rv = SL_RPC_ETOOBIG;
		goto out;
	}
	struct sl__wr w;
	sl__wr_init(&w, buf, size);
	sl__wr_u8(&w, SL_RPC_CODEC_VERSION);
	sl__wr_u8(&w, (uint8_t)msg->type);
	sl__wr_u8(&w, raft_version_of(msg));
	sl__wr_u8(&w, 0);
	put_body(&w, msg, &conf);
	SL_ASSERT(w.p == w.end);
	*len_out = size;
out:
	raft_free(conf.base);
	return rv;
}

int sl_rpc_encode_to(const struct raft_message *msg, void *buf, size_t cap, size_t *len_out)
{
	return encode_into(msg, buf, cap, len_out);
}

int sl_rpc_encode(const struct raft_message *msg, size_t headroom_bytes, uint8_t **buf_out,
		  size_t *len_out)
{
	size_t size;
	int rv = sl_rpc_encoded_size(msg, &size);
	if (rv != 0) {
		return rv;
	}
	size_t total = size;
	if (!add_size(&total, headroom_bytes)) {
		return SL_RPC_ETOOBIG;
	}
	uint8_t *buf = sl_malloc(total);
	if (buf == NULL) {
		return SL_RPC_ENOMEM;
	}
	size_t written = 0;
	rv = encode_into(msg, buf + headroom_bytes, size, &written);
	if (rv != 0) {
		sl_free(buf);
		return rv;
	}
	SL_ASSERT(written == size);
	*buf_out = buf;
	*len_out = total;
	return 0;
}

/* ---- decoding ---------------------------------------------------------- */

/* Checks the entry headers of an AppendEntries whose data section is the
 * bytes that follow them, and computes the batch size. */
static int check_entry_headers(const uint8_t *hdrs, uint32_t n, size_t data_len,
			       const struct sl_rpc_limits *limits, size_t *batch_bytes)
{
	size_t sum = 0;
	size_t batch = 0;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *h = hdrs + (size_t)i * SL_RPC_ENTRY_HEADER_BYTES;
		if (!entry_type_valid(h[8]) || h[9] != 0 || h[10] != 0 || h[11] != 0) {
			return SL_RPC_EMALFORMED;
		}
		size_t len = sl__get_be32(h + 12);
		if (limits != NULL && limits->entry_bytes_max > 0 &&
		    len > limits->entry_bytes_max) {
			return SL_RPC_ETOOBIG;
		}
		if (len > data_len - sum) {
			return SL_RPC_ETRUNCATED;
		}
		sum += len;
		batch += align8(len);
	}
	if (sum != data_len) {
		return SL_RPC_EMALFORMED; /* trailing bytes */
	}
	*batch_bytes = batch == 0 ? 8 : batch;
	return 0;
}

/* Allocates the entries array and the single batch, and copies the data. */
static int build_entries(const uint8_t *hdrs, uint32_t n, const uint8_t *data, size_t batch_bytes,
			 struct raft_append_entries *ae)
{
	struct raft_entry *entries = raft_malloc((size_t)n * sizeof(*entries));
	if (entries == NULL) {
		return SL_RPC_ENOMEM;
	}
	uint8_t *batch = raft_malloc(batch_bytes);
	if (batch == NULL) {
		raft_free(entries);
		return SL_RPC_ENOMEM;
	}
	size_t off = 0;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *h = hdrs + (size_t)i * SL_RPC_ENTRY_HEADER_BYTES;
		size_t len = sl__get_be32(h + 12);
		entries[i].term = sl__get_be64(h);
		entries[i].type = (enum raft_entry_type)h[8];
		entries[i].buf.base = batch + off;
		entries[i].buf.len = len;
		entries[i].batch = batch;
		if (len > 0) {
			memcpy(batch + off, data, len);
		}
		data += len;
		off += align8(len);
	}
	SL_ASSERT(off <= batch_bytes);
	ae->entries = entries;
	ae->n_entries = n;
	return 0;
}

static int decode_append_entries(struct sl__rd *r, const struct sl_rpc_limits *limits,
				 struct raft_append_entries *ae)
{
	ae->term = sl__rd_u64(r);
	ae->prev_log_index = sl__rd_u64(r);
	ae->prev_log_term = sl__rd_u64(r);
	ae->leader_commit = sl__rd_u64(r);
	uint32_t n = sl__rd_u32(r);
	if (r->bad) {
		return SL_RPC_ETRUNCATED;
	}
	if (n == 0) {
		return r->left == 0 ? 0 : SL_RPC_EMALFORMED;
	}
	if (limits != NULL && limits->entries_count_max > 0 && n > limits->entries_count_max) {
		return SL_RPC_ETOOBIG;
	}
	if (n > r->left / SL_RPC_ENTRY_HEADER_BYTES) {
		return SL_RPC_ETRUNCATED;
	}
	const uint8_t *hdrs = sl__rd_bytes(r, (size_t)n * SL_RPC_ENTRY_HEADER_BYTES);
	size_t data_len = r->left;
	const uint8_t *data = sl__rd_bytes(r, data_len);
	size_t batch_bytes = 0;
	int rv = check_entry_headers(hdrs, n, data_len, limits, &batch_bytes);
	if (rv != 0) {
		return rv;
	}
	return build_entries(hdrs, n, data, batch_bytes, ae);
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--) {
		v = v << 8 | p[i];
	}
	return v;
}

/* Walks libraft's configuration encoding (u8 format, u64 LE count, then per
 * server u64 LE id, NUL-terminated address, u8 role, then zero padding to
 * the next multiple of 8 bytes)
 * so that raft_configuration_decode() never reads outside the buffer. */
static int check_conf(const uint8_t *p, size_t len)
{
	if (len < 9 || p[0] != RAFT_CONF_FORMAT) {
		return SL_RPC_EMALFORMED;
	}
	uint64_t n = get_le64(p + 1);
	if (n > SL_RPC_CONF_SERVERS_MAX) {
		return SL_RPC_ETOOBIG;
	}
	size_t off = 9;
	for (uint64_t i = 0; i < n; i++) {
		if (len - off < 8 || get_le64(p + off) == 0) {
			return SL_RPC_EMALFORMED;
		}
		off += 8;
		const uint8_t *nul = memchr(p + off, 0, len - off);
		if (nul == NULL || nul == p + off) {
			return SL_RPC_EMALFORMED; /* unterminated or empty address */
		}
		off = (size_t)(nul - p) + 1;
		if (off >= len || p[off] > RAFT_SPARE) {
			return SL_RPC_EMALFORMED;
		}
		off++;
	}
	if (len != align8(off)) {
		return SL_RPC_EMALFORMED; /* libraft pads to exactly 8 bytes */
	}
	for (; off < len; off++) {
		if (p[off] != 0) {
			return SL_RPC_EMALFORMED;
		}
	}
	return 0;
}

static int decode_conf(const uint8_t *p, size_t len, struct raft_configuration *conf)
{
	int rv = check_conf(p, len);
	if (rv != 0) {
		return rv;
	}
	struct raft_buffer buf = {(void *)(uintptr_t)p, len};
	rv = raft_configuration_decode(&buf, conf);
	if (rv == RAFT_NOMEM) {
		return SL_RPC_ENOMEM;
	}
	if (rv != 0) {
		return SL_RPC_EMALFORMED; /* duplicate id or address */
	}
	return 0;
}

static int decode_install_snapshot(struct sl__rd *r, const struct sl_rpc_limits *limits,
				   struct raft_install_snapshot *is)
{
	is->term = sl__rd_u64(r);
	is->last_index = sl__rd_u64(r);
	is->last_term = sl__rd_u64(r);
	is->conf_index = sl__rd_u64(r);
	uint32_t conf_len = sl__rd_u32(r);
	const uint8_t *conf = sl__rd_bytes(r, conf_len);
	uint32_t data_len = sl__rd_u32(r);
	const uint8_t *data = sl__rd_bytes(r, data_len);
	if (r->bad) {
		return SL_RPC_ETRUNCATED;
	}
	if (r->left != 0) {
		return SL_RPC_EMALFORMED;
	}
	if (limits != NULL && limits->snapshot_data_bytes_max > 0 &&
	    data_len > limits->snapshot_data_bytes_max) {
		return SL_RPC_ETOOBIG;
	}
	void *copy = NULL;
	if (data_len > 0) {
		copy = raft_malloc(data_len);
		if (copy == NULL) {
			return SL_RPC_ENOMEM;
		}
		memcpy(copy, data, data_len);
	}
	int rv = decode_conf(conf, conf_len, &is->conf);
	if (rv != 0) {
		raft_free(copy);
		return rv;
	}
	is->data.base = copy;
	is->data.len = data_len;
	return 0;
}

/* Decodes the fixed-size message types; checks flag bits and exact length. */
static int decode_fixed(struct sl__rd *r, struct raft_message *msg)
{
	struct raft_append_entries_result *aer = &msg->append_entries_result;
	struct raft_request_vote *rv = &msg->request_vote;
	struct raft_request_vote_result *rvr = &msg->request_vote_result;
	struct raft_timeout_now *tn = &msg->timeout_now;
	unsigned flags = 0;
	unsigned allowed = 0;

	switch (msg->type) {
	case RAFT_APPEND_ENTRIES_RESULT:
		aer->term = sl__rd_u64(r);
		aer->rejected = sl__rd_u64(r);
		aer->last_log_index = sl__rd_u64(r);
		aer->features = sl__rd_u16(r);
		aer->capacity = sl__rd_u16(r);
		break;
	case RAFT_REQUEST_VOTE:
		rv->term = sl__rd_u64(r);
		rv->candidate_id = sl__rd_u64(r);
		rv->last_log_index = sl__rd_u64(r);
		rv->last_log_term = sl__rd_u64(r);
		flags = sl__rd_u8(r);
		allowed = RV_FLAG_DISRUPT_LEADER | RV_FLAG_PRE_VOTE;
		rv->disrupt_leader = (flags & RV_FLAG_DISRUPT_LEADER) != 0;
		rv->pre_vote = (flags & RV_FLAG_PRE_VOTE) != 0;
		break;
	case RAFT_REQUEST_VOTE_RESULT:
		rvr->term = sl__rd_u64(r);
		flags = sl__rd_u8(r);
		allowed = RVR_FLAG_GRANTED | RVR_FLAG_PRE_VOTE;
		rvr->vote_granted = (flags & RVR_FLAG_GRANTED) != 0;
		rvr->pre_vote = (flags & RVR_FLAG_PRE_VOTE) != 0;
		rvr->features = sl__rd_u16(r);
		rvr->capacity = sl__rd_u16(r);
		break;
	default: /* RAFT_TIMEOUT_NOW */
		tn->term = sl__rd_u64(r);
		tn->last_log_index = sl__rd_u64(r);
		tn->last_log_term = sl__rd_u64(r);
		break;
	}
	if (r->bad) {
		return SL_RPC_ETRUNCATED;
	}
	if ((flags & ~allowed) != 0 || r->left != 0) {
		return SL_RPC_EMALFORMED;
	}
	return 0;
}

static void set_raft_version(struct raft_message *msg, unsigned char version)
{
	switch (msg->type) {
	case RAFT_APPEND_ENTRIES:
		msg->append_entries.version = version;
		break;
	case RAFT_APPEND_ENTRIES_RESULT:
		msg->append_entries_result.version = version;
		break;
	case RAFT_REQUEST_VOTE:
		msg->request_vote.version = version;
		break;
	case RAFT_REQUEST_VOTE_RESULT:
		msg->request_vote_result.version = version;
		break;
	case RAFT_INSTALL_SNAPSHOT:
		msg->install_snapshot.version = version;
		break;
	default:
		msg->timeout_now.version = version;
		break;
	}
}

int sl_rpc_decode(const void *buf, size_t len, const struct sl_rpc_limits *limits,
		  struct raft_message *msg)
{
	struct sl__rd r;
	int rv;

	memset(msg, 0, sizeof(*msg));
	sl__rd_init(&r, buf, len);
	uint8_t version = sl__rd_u8(&r);
	uint8_t type = sl__rd_u8(&r);
	uint8_t raft_version = sl__rd_u8(&r);
	uint8_t reserved = sl__rd_u8(&r);
	if (r.bad) {
		return SL_RPC_ETRUNCATED;
	}
	if (version != SL_RPC_CODEC_VERSION) {
		return SL_RPC_EVERSION;
	}
	if (type < RAFT_APPEND_ENTRIES || type > RAFT_TIMEOUT_NOW) {
		return SL_RPC_ETYPE;
	}
	if (reserved != 0) {
		return SL_RPC_EMALFORMED;
	}
	msg->type = (enum raft_message_type)type;
	if (type == RAFT_APPEND_ENTRIES) {
		rv = decode_append_entries(&r, limits, &msg->append_entries);
	} else if (type == RAFT_INSTALL_SNAPSHOT) {
		rv = decode_install_snapshot(&r, limits, &msg->install_snapshot);
	} else {
		rv = decode_fixed(&r, msg);
	}
	if (rv != 0) {
		/* Decoders allocate only as their very last step, so nothing needs
		 * freeing here. */
		memset(msg, 0, sizeof(*msg));
		return rv;
	}
	set_raft_version(msg, raft_version);
	return 0;
}

void sl_rpc_message_release(struct raft_message *msg)
{
	switch (msg->type) {
	case RAFT_APPEND_ENTRIES:
		if (msg->append_entries.n_entries > 0) {
			raft_free(msg->append_entries.entries[0].batch);
		}
		raft_free(msg->append_entries.entries);
		break;
	case RAFT_INSTALL_SNAPSHOT:
		raft_configuration_close(&msg->install_snapshot.conf);
		raft_free(msg->install_snapshot.data.base);
		break;
	default:
		break;
	}
	memset(msg, 0, sizeof(*msg));
}
