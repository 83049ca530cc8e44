/* Bootstraps an empty partition log with term 1 and a first configuration
 * entry, the state libraft 0.22.1 expects instead of a bootstrap call.
 *
 * Happy path: the term/vote write and the append of entry 1 (a CONFIG
 * control batch, term 1) are queued together and share one group commit;
 * the callback runs when both are durable.
 *
 * Failure modes: a non-empty log is refused (RL_EINVAL); a storage error is
 * reported to the callback, the log is then failed and must be reopened. */
#include <stdio.h>
#include <string.h>

#include "common/sl_common.h"
#include "raftlog/group.h"

static void boot_done(struct rl_bootstrap_req *req, int status)
{
	if (status != 0 && req->status_ == 0) {
		req->status_ = status;
	}
	if (--req->left_ > 0) {
		return;
	}
	sl_free(req->batch_);
	req->batch_ = NULL;
	req->cb(req, req->status_);
}

static void boot_meta_cb(struct rl_meta_req *meta, int status)
{
	boot_done(meta->data, status);
}

static void boot_append_cb(struct rl_append_req *append, int status)
{
	boot_done(append->data, status);
}

static int encode_voters(const uint64_t *voters, unsigned n, struct raft_buffer *out)
{
	struct raft_configuration c;
	raft_configuration_init(&c);
	for (unsigned i = 0; i < n; i++) {
		char address[32];
		snprintf(address, sizeof(address), "%llu", (unsigned long long)voters[i]);
		if (voters[i] == 0 || raft_configuration_add(&c, voters[i], address, RAFT_VOTER) != 0) {
			raft_configuration_close(&c);
			return RL_EINVAL;
		}
	}
	int rv = raft_configuration_encode(&c, out);
	raft_configuration_close(&c);
	return rv == 0 ? 0 : RL_ENOMEM;
}

int rl_group_bootstrap(struct rl_log *log, struct rl_bootstrap_req *req, const uint64_t *voters,
		       unsigned n_voters, int64_t now_ms, void (*cb)(struct rl_bootstrap_req *, int))
{
	struct rl_log_info li;
	rl_log_get_info(log, &li);
	if (n_voters == 0 || li.last_index != 0 || li.term != 0 || li.first_index != 1) {
		return RL_EINVAL;
	}
	struct raft_buffer conf;
	int rv = encode_voters(voters, n_voters, &conf);
	if (rv != 0) {
		return rv;
	}
	size_t len;
	rv = rl_control_batch_build(RL_KIND_CONFIG, conf.base, conf.len, now_ms, &req->batch_, &len);
	raft_free(conf.base);
	if (rv != 0) {
		return rv;
	}
	req->cb = cb;
	req->status_ = 0;
	req->left_ = 2;
	req->meta_.data = req;
	req->append_.data = req;
	rv = rl_set_term_vote(log, &req->meta_, 1, 0, boot_meta_cb);
	if (rv != 0) {
		goto err_after_batch;
	}
	struct rl_entry e = {.term = 1, .kind = RL_KIND_CONFIG, .buf = req->batch_, .len = len};
	rv = rl_append(log, &req->append_, &e, 1, RL_APPEND_ASSIGN, boot_append_cb);
	if (rv != 0) {
		/* The term write is queued and will call back: let it finish the
		 * request with this error. */
		req->status_ = rv;
		req->left_ = 1;
		return 0;
	}
	return 0;

err_after_batch:
	sl_free(req->batch_);
	req->batch_ = NULL;
	return rv;
}
