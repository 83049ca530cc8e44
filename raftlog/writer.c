/* The writer: one dedicated thread (or a manual driver) shared by many
 * logs, its queue, and the completion of operations on the loop thread.
 *
 * Happy path: the loop thread plans an operation and submits it; the writer
 * thread takes everything queued, runs one pass over it (pass.c: writes,
 * then one fdatasync per touched file), appends the operations to the done
 * list and wakes the loop with uv_async_send(). The async callback finishes
 * the operations in the order they were submitted, so each log sees its
 * callbacks in FIFO order. In manual mode rl_writer_run_pending() does the
 * same on the calling thread.
 * Failure modes: I/O errors are decided in the pass and reach the callbacks
 * as RL_EIO; the first one also marks the log failed here, on the loop
 * thread, so later calls on it return RL_EIO at once. Queue limits give
 * RL_EAGAIN before anything is allocated. */
#include <string.h>

#include "raftlog/internal.h"

void rl_writer_config_default(struct rl_writer_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->queue_ops_max = 65536;
	cfg->queue_bytes_max = 512ull << 20;
}

static void *worker_main(void *arg)
{
	struct rl_writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->q_head == NULL && !w->stop) {
			pthread_cond_wait(&w->cond, &w->mu);
		}
		struct rl__op *ops = w->q_head;
		if (ops == NULL) {
			break;
		}
		struct rl__op *tail = w->q_tail;
		w->q_head = w->q_tail = NULL;
		pthread_mutex_unlock(&w->mu);
		rl__pass_run(w, ops);
		pthread_mutex_lock(&w->mu);
		if (w->done_tail != NULL) {
			w->done_tail->next = ops;
		} else {
			w->done_head = ops;
		}
		w->done_tail = tail;
		uv_async_send(w->async);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void dispatch(enum rl__op_type type, void *req, int status)
{
	switch (type) {
	case RL__OP_APPEND: {
		struct rl_append_req *r = req;
		r->op_ = NULL;
		r->cb(r, status);
		break;
	}
	case RL__OP_TRUNCATE: {
		struct rl_truncate_req *r = req;
		r->op_ = NULL;
		r->cb(r, status);
		break;
	}
	case RL__OP_VOTE:
	case RL__OP_SNAPSHOT: {
		struct rl_meta_req *r = req;
		r->op_ = NULL;
		r->cb(r, status);
		break;
	}
	case RL__OP_RETAIN: {
		struct rl_retain_req *r = req;
		r->op_ = NULL;
		r->cb(r, status);
		break;
	}
	case RL__OP_RESET: {
		struct rl_reset_req *r = req;
		r->op_ = NULL;
		r->cb(r, status);
		break;
	}
	}
}

/* Completes one operation on the loop thread. */
static void finish_op(struct rl__op *op)
{
	struct rl_log *log = op->log;
	struct rl_writer *w = log->w;
	int status = op->status;
	w->ops_queued--;
	w->bytes_queued -= op->bytes;
	log->ops_pending--;
	if (status != 0 && !log->failed) {
		log->failed = true;
		memcpy(log->errmsg, log->w_errmsg, sizeof(log->errmsg));
		SL_LOG(SL_LOG_ERROR, "event=log_failed dir=%s error=\"%s\"", log->dir,
		       log->errmsg);
	}
	if (op->type == RL__OP_APPEND) {
		SL_ASSERT(log->app_head == op);
		log->app_head = op->log_next;
		if (log->app_head == NULL) {
			log->app_tail = NULL;
		}
		if (status == 0 && op->live_last >= op->first_index &&
		    op->live_last > log->durable_index) {
			rl__log_set_durable(log, op->live_last);
		}
	}
	enum rl__op_type type = op->type;
	void *req = op->req;
	rl__op_free(op);
	dispatch(type, req, status);
}

static unsigned finish_list(struct rl__op *ops)
{
	unsigned n = 0;
	while (ops != NULL) {
		struct rl__op *next = ops->next;
		finish_op(ops);
		ops = next;
		n++;
	}
	return n;
}

static void async_cb(uv_async_t *handle)
{
	struct rl_writer *w = handle->data;
	pthread_mutex_lock(&w->mu);
	struct rl__op *ops = w->done_head;
	w->done_head = w->done_tail = NULL;
	pthread_mutex_unlock(&w->mu);
	finish_list(ops);
}

static void free_handle(uv_handle_t *handle)
{
	sl_free(handle);
}

int rl_writer_create(uv_loop_t *loop, const struct rl_writer_config *cfg, struct rl_writer **out)
{
	if (cfg == NULL || out == NULL || cfg->manual != (loop == NULL) ||
	    cfg->queue_ops_max == 0 || cfg->queue_bytes_max == 0) {
		return RL_EINVAL;
	}
	struct rl_writer *w = sl_calloc(1, sizeof(*w));
	if (w == NULL) {
		return RL_ENOMEM;
	}
	w->cfg = *cfg;
	w->loop = loop;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (!cfg->manual) {
		w->async = sl_malloc(sizeof(*w->async));
		if (w->async == NULL) {
			goto err_after_alloc;
		}
		if (uv_async_init(loop, w->async, async_cb) != 0) {
			sl_free(w->async);
			goto err_after_alloc;
		}
		w->async->data = w;
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			uv_close((uv_handle_t *)w->async, free_handle);
			goto err_after_alloc;
		}
		w->thread_started = true;
	}
	*out = w;
	return 0;

err_after_alloc:
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mu);
	sl_free(w);
	return cfg->manual ? RL_ENOMEM : RL_EIO;
}

unsigned rl_writer_run_pending(struct rl_writer *w)
{
	SL_ASSERT(w->cfg.manual);
	unsigned n = 0;
	for (;;) {
		pthread_mutex_lock(&w->mu);
		struct rl__op *ops = w->q_head;
		w->q_head = w->q_tail = NULL;
		pthread_mutex_unlock(&w->mu);
		if (ops == NULL) {
			return n;
		}
		rl__pass_run(w, ops);
		n += finish_list(ops);
	}
}

void rl_writer_close(struct rl_writer *w)
{
	SL_ASSERT(w->n_logs == 0);
	if (w->thread_started) {
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
	}
	SL_ASSERT(w->done_head == NULL && w->q_head == NULL);
	if (w->async != NULL) {
		uv_close((uv_handle_t *)w->async, free_handle);
	}
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mu);
	sl_free(w);
}

/* Checks the log and the queue limits for a new operation of `bytes`. */
int rl__op_admit(struct rl_log *log, uint64_t bytes)
{
	struct rl_writer *w = log->w;
	if (log->failed) {
		return RL_EIO;
	}
	if (bytes > w->cfg.queue_bytes_max) {
		return RL_ETOOLARGE;
	}
	if (w->ops_queued >= w->cfg.queue_ops_max ||
	    w->bytes_queued + bytes > w->cfg.queue_bytes_max) {
		return RL_EAGAIN;
	}
	return 0;
}

struct rl__op *rl__op_alloc(struct rl_log *log, enum rl__op_type type, void *req,
			    unsigned n_entries)
{
	struct rl__op *op =
	    sl_calloc(1, sizeof(*op) + (size_t)n_entries * sizeof(struct rl__op_entry));
	if (op == NULL) {
		return NULL;
	}
	op->log = log;
	op->type = type;
	op->req = req;
	op->n_entries = n_entries;
	return op;
}

void rl__op_free(struct rl__op *op)
{
	for (unsigned i = 0; i < op->n_entries; i++) {
		if (op->entries[i].seg != NULL) {
			rl__segment_unref(op->entries[i].seg);
		}
	}
	for (size_t i = 0; i < op->n_del; i++) {
		rl__segment_unref(op->del[i]);
	}
	if (op->trim != NULL) {
		rl__segment_unref(op->trim);
	}
	sl_free(op->del);
	sl_free(op->state);
	sl_free(op->state2);
	sl_free(op);
}

/* Queues a fully planned operation (loop thread). */
void rl__writer_submit(struct rl_writer *w, struct rl__op *op)
{
	struct rl_log *log = op->log;
	w->ops_queued++;
	w->bytes_queued += op->bytes;
	log->ops_pending++;
	if (op->type == RL__OP_APPEND) {
		if (log->app_tail != NULL) {
			log->app_tail->log_next = op;
		} else {
			log->app_head = op;
		}
		log->app_tail = op;
	}
	op->next = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->q_tail != NULL) {
		w->q_tail->next = op;
	} else {
		w->q_head = op;
	}
	w->q_tail = op;
	if (w->thread_started) {
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&w->mu);
}
