/* The simulated network: a binary heap of messages ordered by (delivery
 * time, send order), link state, and per-connection FIFO clamping.
 *
 * Happy path: simnet_send() draws the latency, keeps the connection FIFO
 * (unless this message is picked to overtake) and pushes the message;
 * simnet_deliver_one() pops the earliest and calls the kind's handler.
 * Failure modes (all simulated): loss at send, a down sender, and at
 * delivery a cut, a partition or a down recipient; each frees the
 * message and counts it as dropped. */
#include "tests/sim/simnet.h"

#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"

struct simnet {
	struct simnet_config cfg;
	struct sim_rng *rng;
	unsigned n_nodes;
	struct simnet_msg **heap;
	size_t n_heap;
	size_t cap_heap;
	uint64_t seq;
	uint64_t last_ms[SIMNET_NODES_MAX][SIMNET_NODES_MAX]; /* FIFO clamp */
	bool up[SIMNET_NODES_MAX];
	bool side[SIMNET_NODES_MAX];
	bool partitioned;
	bool cut[SIMNET_NODES_MAX][SIMNET_NODES_MAX];
	simnet_handler handlers[SIMNET_KINDS];
	void *handler_args[SIMNET_KINDS];
	struct simnet_stats stats;
};

static bool before(const struct simnet_msg *a, const struct simnet_msg *b)
{
	return a->deliver_ms != b->deliver_ms ? a->deliver_ms < b->deliver_ms : a->seq < b->seq;
}

static void heap_push(struct simnet *net, struct simnet_msg *m)
{
	if (net->n_heap == net->cap_heap) {
		net->cap_heap = net->cap_heap == 0 ? 256 : net->cap_heap * 2;
		net->heap = realloc(net->heap, net->cap_heap * sizeof(*net->heap));
		SL_ASSERT(net->heap != NULL);
	}
	size_t i = net->n_heap++;
	while (i > 0 && before(m, net->heap[(i - 1) / 2])) {
		net->heap[i] = net->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	net->heap[i] = m;
}

static struct simnet_msg *heap_pop(struct simnet *net)
{
	struct simnet_msg *top = net->heap[0];
	struct simnet_msg *last = net->heap[--net->n_heap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= net->n_heap) {
			break;
		}
		if (c + 1 < net->n_heap && before(net->heap[c + 1], net->heap[c])) {
			c++;
		}
		if (!before(net->heap[c], last)) {
			break;
		}
		net->heap[i] = net->heap[c];
		i = c;
	}
	if (net->n_heap > 0) {
		net->heap[i] = last;
	}
	return top;
}

struct simnet *simnet_create(unsigned n_nodes, const struct simnet_config *cfg,
			     struct sim_rng *rng)
{
	SL_ASSERT(n_nodes < SIMNET_NODES_MAX);
	struct simnet *net = calloc(1, sizeof(*net));
	SL_ASSERT(net != NULL);
	net->cfg = *cfg;
	net->rng = rng;
	net->n_nodes = n_nodes;
	for (unsigned i = 1; i <= n_nodes; i++) {
		net->up[i] = true;
	}
	return net;
}

static void free_msg(struct simnet_msg *m)
{
	sl_free(m->buf);
	free(m);
}

void simnet_destroy(struct simnet *net)
{
	for (size_t i = 0; i < net->n_heap; i++) {
		free_msg(net->heap[i]);
	}
	free(net->heap);
	free(net);
}

struct simnet_config *simnet_config(struct simnet *net)
{
	return &net->cfg;
}

void simnet_set_handler(struct simnet *net, enum simnet_kind kind, simnet_handler handler,
			void *arg)
{
	net->handlers[kind] = handler;
	net->handler_args[kind] = arg;
}

void simnet_send(struct simnet *net, uint64_t now_ms, unsigned from, unsigned to, uint64_t group,
		 enum simnet_kind kind, uint8_t *buf, size_t len)
{
	SL_ASSERT(from >= 1 && from <= net->n_nodes && to >= 1 && to <= net->n_nodes);
	net->stats.sent++;
	net->stats.bytes += len;
	if (!net->up[from] || sim_rng_chance(net->rng, net->cfg.drop_permille)) {
		net->stats.dropped++;
		sl_free(buf);
		return;
	}
	struct simnet_msg *m = malloc(sizeof(*m));
	SL_ASSERT(m != NULL);
	uint64_t t = now_ms + net->cfg.latency_ms[from][to] +
		     sim_rng_below(net->rng, (uint64_t)net->cfg.jitter_ms + 1);
	if (!sim_rng_chance(net->rng, net->cfg.reorder_permille) && t < net->last_ms[from][to]) {
		t = net->last_ms[from][to];
	}
	if (t > net->last_ms[from][to]) {
		net->last_ms[from][to] = t;
	}
	*m = (struct simnet_msg){.deliver_ms = t,
				 .seq = net->seq++,
				 .from = from,
				 .to = to,
				 .group = group,
				 .kind = kind,
				 .buf = buf,
				 .len = len};
	heap_push(net, m);
}

uint64_t simnet_next_ms(const struct simnet *net)
{
	return net->n_heap == 0 ? UINT64_MAX : net->heap[0]->deliver_ms;
}

bool simnet_link_ok(const struct simnet *net, unsigned from, unsigned to)
{
	return !net->cut[from][to] && (!net->partitioned || net->side[from] == net->side[to]);
}

bool simnet_deliver_one(struct simnet *net, uint64_t now_ms)
{
	if (net->n_heap == 0 || net->heap[0]->deliver_ms > now_ms) {
		return false;
	}
	struct simnet_msg *m = heap_pop(net);
	if (net->up[m->to] && simnet_link_ok(net, m->from, m->to) &&
	    net->handlers[m->kind] != NULL) {
		net->stats.delivered++;
		net->handlers[m->kind](net->handler_args[m->kind], m);
	} else {
		net->stats.dropped++;
	}
	free_msg(m);
	return true;
}

void simnet_set_up(struct simnet *net, unsigned node, bool up)
{
	net->up[node] = up;
}

void simnet_partition(struct simnet *net, const bool *side)
{
	for (unsigned i = 1; i <= net->n_nodes; i++) {
		net->side[i] = side[i];
	}
	net->partitioned = true;
}

void simnet_cut(struct simnet *net, unsigned from, unsigned to, bool cut)
{
	net->cut[from][to] = cut;
}

void simnet_heal(struct simnet *net)
{
	net->partitioned = false;
	memset(net->cut, 0, sizeof(net->cut));
}

const struct simnet_stats *simnet_stats(const struct simnet *net)
{
	return &net->stats;
}
