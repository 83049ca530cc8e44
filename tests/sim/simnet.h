/* tests/sim/simnet.h: the simulated network between brokers. Messages are
 * opaque byte strings tagged with a group and a kind; each is delivered at
 * a virtual time drawn from its link's latency, or dropped. Faults: random
 * loss, partitions (two sides), one-way cuts, brokers that are down.
 *
 * Ordering: a connection (from, to) is FIFO like TCP, except that with
 * probability reorder_permille a message may overtake earlier ones;
 * connections are independent, so messages reorder across them. Every
 * random choice comes from the rng given at creation; ties in delivery time
 * are broken by send order, so a seed replays exactly.
 *
 * Adding a message kind is one enum value and one simnet_set_handler()
 * call. */
#ifndef SIM_SIMNET_H
#define SIM_SIMNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/sim/rng.h"

/* Highest broker id + 1. */
#define SIMNET_NODES_MAX 8

/* What a message carries, selecting its handler. */
enum simnet_kind {
	SIMNET_RAFT = 0,    /* a libraft message in server/rpc_codec.h form */
	SIMNET_CATCHUP = 1, /* a group driver catch-up message (opaque bytes) */
	SIMNET_KINDS
};

/* One message in flight. buf is owned by the network. */
struct simnet_msg {
	uint64_t deliver_ms;
	uint64_t seq; /* send order */
	unsigned from;
	unsigned to;
	uint64_t group;
	enum simnet_kind kind;
	uint8_t *buf;
	size_t len;
};

/* Receives a delivered message; m and its bytes are borrowed for the
 * call. */
typedef void (*simnet_handler)(void *arg, const struct simnet_msg *m);

/* Link behaviour. */
struct simnet_config {
	unsigned drop_permille;    /* random loss per message */
	unsigned reorder_permille; /* chance to overtake on a connection */
	unsigned jitter_ms;        /* added latency, uniform in [0, jitter] */
	/* One-way base latency between two brokers (ids 1..n). */
	unsigned latency_ms[SIMNET_NODES_MAX][SIMNET_NODES_MAX];
};

/* Counters. */
struct simnet_stats {
	uint64_t sent;
	uint64_t delivered;
	uint64_t dropped; /* lost, cut, partitioned or to a down broker */
	uint64_t bytes;
};

struct simnet;

/* Creates a network of brokers 1..n_nodes. rng is borrowed. */
struct simnet *simnet_create(unsigned n_nodes, const struct simnet_config *cfg,
			     struct sim_rng *rng);

/* Frees every message in flight and the network. */
void simnet_destroy(struct simnet *net);

/* The current configuration, which may be changed between calls. */
struct simnet_config *simnet_config(struct simnet *net);

/* Routes messages of kind to handler(arg, ...). */
void simnet_set_handler(struct simnet *net, enum simnet_kind kind, simnet_handler handler,
			void *arg);

/* Sends buf (ownership passes to the network) at now_ms. A message from a
 * down broker, or one picked for loss, is dropped at once. */
void simnet_send(struct simnet *net, uint64_t now_ms, unsigned from, unsigned to, uint64_t group,
		 enum simnet_kind kind, uint8_t *buf, size_t len);

/* Delivery time of the next message, or UINT64_MAX if none. */
uint64_t simnet_next_ms(const struct simnet *net);

/* Takes the next message (due at or before now_ms) and hands it to its
 * handler unless a cut, partition or a down recipient drops it. Returns
 * false if none was due. */
bool simnet_deliver_one(struct simnet *net, uint64_t now_ms);

/* Marks a broker up or down. */
void simnet_set_up(struct simnet *net, unsigned node, bool up);

/* Splits the brokers: side[i] (i = 1..n) says which side broker i is on;
 * messages between sides are dropped. */
void simnet_partition(struct simnet *net, const bool *side);

/* Cuts (or restores) the one-way link from -> to. */
void simnet_cut(struct simnet *net, unsigned from, unsigned to, bool cut);

/* Removes every partition and cut. */
void simnet_heal(struct simnet *net);

/* Returns true when the link from -> to passes messages now. */
bool simnet_link_ok(const struct simnet *net, unsigned from, unsigned to);

/* Returns the counters. */
const struct simnet_stats *simnet_stats(const struct simnet *net);

#endif /* SIM_SIMNET_H */
