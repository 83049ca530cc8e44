/* Controller log entries as RecordBatches: building a batch of commands for
 * the leader to submit, and iterating the commands of a stored entry (one or
 * more concatenated batches, control batches skipped). */
#include <string.h>

#include "common/sl_common.h"
#include "raftlog/raftlog.h"
#include "server/ctl_int.h"

static int from_kp(int rc)
{
	return rc == KP_ENOMEM ? SD_CTL_ENOMEM : SD_CTL_EINVAL;
}

/* Encodes every command into the builder; scratch holds max_len bytes. */
static int add_all(struct kp_batch_builder *b, const struct sd_ctl_cmd *cmds, int32_t n,
		   int64_t timestamp_ms, uint8_t *scratch, size_t max_len)
{
	for (int32_t i = 0; i < n; i++) {
		size_t len;
		int rc = sd_ctl_cmd_encode(&cmds[i], scratch, max_len, &len);
		if (rc != 0) {
			return rc;
		}
		rc =
		    kp_batch_builder_add(b, timestamp_ms, NULL, -1, scratch, (int32_t)len, NULL, 0);
		if (rc != 0) {
			return from_kp(rc);
		}
	}
	return 0;
}

int sd_ctl_batch_build(const struct sd_ctl_cmd *cmds, int32_t n, int64_t timestamp_ms,
		       uint8_t **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (cmds == NULL || n < 1) {
		return SD_CTL_EINVAL;
	}
	if (n > SD_CTL_ENTRY_CMDS_MAX) {
		return SD_CTL_ELIMIT;
	}
	size_t max_len = 0, total = 0;
	for (int32_t i = 0; i < n; i++) {
		size_t len;
		int rc = sd_ctl_cmd_encoded_size(&cmds[i], &len);
		if (rc != 0) {
			return rc;
		}
		max_len = SL_MAX(max_len, len);
		total += len;
	}
	if (total > SD_CTL_ENTRY_BYTES_MAX) {
		return SD_CTL_ELIMIT;
	}
	uint8_t *scratch = sl_malloc(max_len);
	if (scratch == NULL) {
		return SD_CTL_ENOMEM;
	}
	struct kp_batch_builder b;
	int rc = kp_batch_builder_init(&b, 0, KP_CODEC_NONE, -1, -1, -1);
	if (rc != 0) {
		sl_free(scratch);
		return from_kp(rc);
	}
	rc = add_all(&b, cmds, n, timestamp_ms, scratch, max_len);
	sl_free(scratch);
	if (rc == 0) {
		rc = kp_batch_builder_finish(&b);
		rc = rc != 0 ? from_kp(rc) : 0;
	}
	if (rc == 0) {
		*out = kp_batch_builder_take(&b, out_len);
		rc = *out != NULL ? 0 : SD_CTL_ENOMEM;
	}
	if (rc == 0 && *out_len > SD_CTL_ENTRY_BYTES_MAX) {
		sl_free(*out);
		*out = NULL;
		*out_len = 0;
		rc = SD_CTL_ELIMIT;
	}
	kp_batch_builder_free(&b);
	return rc;
}

int sd_ctl_entry_iter_init(struct sd_ctl_entry_iter *it, const uint8_t *buf, size_t len)
{
	memset(it, 0, sizeof(*it));
	if (buf == NULL && len > 0) {
		it->err = SD_CTL_EINVAL;
		return it->err;
	}
	if (len > SD_CTL_ENTRY_BYTES_MAX) {
		it->err = SD_CTL_ELIMIT;
		return it->err;
	}
	it->pos = buf;
	it->end = len > 0 ? buf + len : buf;
	return 0;
}

/* Opens the next batch that carries commands. Returns 1 with it->recs live,
 * 0 at the end of the entry, or a negative error. */
static int open_batch(struct sd_ctl_entry_iter *it)
{
	while (it->pos < it->end) {
		struct kp_batch_header h;
		size_t left = (size_t)(it->end - it->pos);
		if (kp_batch_validate(it->pos, left, SD_CTL_ENTRY_BYTES_MAX, &h) != 0) {
			return SD_CTL_EBATCH;
		}
		const uint8_t *batch = it->pos;
		size_t size = kp_batch_size(&h);
		it->pos += size;
		enum rl_kind kind;
		if (rl_batch_kind(batch, size, &kind, NULL, NULL) != 0) {
			return SD_CTL_EBATCH;
		}
		if (kind != RL_KIND_DATA || (h.attributes & KP_ATTR_CONTROL) != 0) {
			continue; /* BARRIER, CONFIG or another control batch */
		}
		int rc = kp_record_iter_init(&it->recs, batch, size);
		if (rc != 0) {
			kp_record_iter_free(&it->recs);
			return rc == KP_ENOMEM ? SD_CTL_ENOMEM : SD_CTL_EBATCH;
		}
		it->in_batch = true;
		return 1;
	}
	return 0;
}

/* Finds the next record carrying a command. Returns 1 with *rec, 0 at the
 * end or a negative error. */
static int next_record(struct sd_ctl_entry_iter *it, struct kp_record *rec)
{
	for (;;) {
		if (!it->in_batch) {
			int rc = open_batch(it);
			if (rc <= 0) {
				return rc;
			}
		}
		int rc = kp_record_iter_next(&it->recs, rec);
		if (rc == 1) {
			return 1;
		}
		kp_record_iter_free(&it->recs);
		it->in_batch = false;
		if (rc < 0) {
			return rc == KP_ENOMEM ? SD_CTL_ENOMEM : SD_CTL_EBATCH;
		}
	}
}

int sd_ctl_entry_iter_next(struct sd_ctl_entry_iter *it, struct sd_ctl_cmd *out)
{
	memset(out, 0, sizeof(*out));
	if (it->err != 0) {
		return it->err;
	}
	struct kp_record rec;
	int rc = next_record(it, &rec);
	if (rc == 1 && it->n_cmds >= SD_CTL_ENTRY_CMDS_MAX) {
		rc = SD_CTL_ELIMIT;
	} else if (rc == 1 && rec.value_len < 0) {
		rc = SD_CTL_EMALFORMED; /* a null value carries no command */
	} else if (rc == 1) {
		rc = sd_ctl_cmd_decode(rec.value, (size_t)rec.value_len, out);
		rc = rc == 0 ? 1 : rc;
	}
	if (rc < 0) {
		it->err = rc;
		return rc;
	}
	it->n_cmds += rc;
	return rc;
}

void sd_ctl_entry_iter_free(struct sd_ctl_entry_iter *it)
{
	if (it->in_batch) {
		kp_record_iter_free(&it->recs);
		it->in_batch = false;
	}
}
