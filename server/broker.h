/* stretchlogd internals shared by the broker's files (private to server/).
 *
 * One struct sd_broker per process: its configuration, the libuv loop, the
 * inter-broker transport, the partition manager (every Raft group hosted
 * here), the controller (group 0 and its applied state), the leader table
 * (who leads each partition, learned from the groups and shared between
 * brokers), the Kafka listener with its handlers, and the admin HTTP server
 * with the metrics registry.
 *
 * Data flow of a produce: Kafka frame -> kafka_conn decodes -> kh_produce
 * validates every batch -> sd_part_submit (Raft: the leader appends and
 * replicates) -> the writer thread makes it durable -> commit -> the submit
 * callback answers the request. Nothing flows back the other way.
 *
 * Threads: everything here runs on the loop thread. */
#ifndef SD_BROKER_H
#define SD_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "server/config.h"
#include "server/ctl_state.h"
#include "server/pm.h"
#include "server/transport.h"

struct sk_server;
struct sk_request;
struct sd_http;
struct sd_metrics;
struct sd_broker;

/* ---- Controller (server/controller.c) ----------------------------------- */

/* Requests a broker sends to the controller leader. */
enum sd_ctl_rpc_kind {
	SD_CTL_RPC_REGISTER = 1,
	SD_CTL_RPC_CREATE_TOPIC = 2,
	SD_CTL_RPC_DELETE_TOPIC = 3,
	SD_CTL_RPC_ALTER_CONFIGS = 4,
};

/* Outcome of a controller request: a Kafka error code (0 = done and applied
 * locally, so a following Metadata on this broker sees it) and a message. */
typedef void (*sd_ctl_done_cb)(void *data, int16_t error_code, const char *message);

/* A topic creation as a client asked for it. */
struct sd_topic_intent {
	const char *name;
	int32_t partitions;          /* -1: num.partitions */
	int32_t replication_factor;  /* -1: default.replication.factor */
	const struct sd_ctl_config *configs;
	int32_t n_configs;
	bool validate_only;
};

/* Starts group 0 and the controller's timer. */
int sd_controller_start(struct sd_broker *b);
/* Stops the timer and proposals (first step of a shutdown). */
void sd_controller_quiesce(struct sd_broker *b);
/* Frees the controller once the partition manager has closed; pending
 * calls complete with REQUEST_TIMED_OUT. */
void sd_controller_stop(struct sd_broker *b);
/* The applied controller state (borrowed; changes as entries apply). */
const struct sd_ctl_state *sd_controller_state(const struct sd_broker *b);
/* Called by the broker for group 0's events. */
void sd_controller_on_hwm(struct sd_broker *b);
void sd_controller_on_role(struct sd_broker *b, int new_role);
void sd_controller_on_control(struct sd_broker *b, uint64_t peer, const uint8_t *buf, size_t len);

int sd_controller_create_topic(struct sd_broker *b, const struct sd_topic_intent *t,
			       sd_ctl_done_cb cb, void *data);
int sd_controller_delete_topic(struct sd_broker *b, const char *name, sd_ctl_done_cb cb,
			       void *data);
/* ops: value NULL deletes the key (back to the default). */
int sd_controller_alter_configs(struct sd_broker *b, const char *topic,
				const struct sd_ctl_config *ops, int32_t n_ops, bool validate_only,
				sd_ctl_done_cb cb, void *data);
/* The controller leader's broker id, or -1 if unknown. */
int32_t sd_controller_leader(const struct sd_broker *b);

/* ---- Leader table ------------------------------------------------------- */

/* Who leads group_id, as far as this broker knows: -1 if unknown. */
int32_t sd_leader_of(struct sd_broker *b, uint64_t group_id, uint64_t *term);
void sd_leader_note(struct sd_broker *b, uint64_t group_id, uint64_t term, int32_t leader);

/* ---- Data partitions ---------------------------------------------------- */

struct sd_fetch_wait; /* kh_fetch.c */

/* The broker's view of one hosted data partition (sd_part_data()). */
struct sd_partition {
	struct sd_broker *b;
	struct sd_part *part;
	uint64_t group_id;
	char topic[SD_CTL_TOPIC_NAME_MAX + 1];
	int32_t index;
	int32_t n_replicas;
	int32_t replicas[SD_CTL_REPLICAS_MAX];
	struct sd_fetch_wait *waiters; /* long-polling fetches */
	uint64_t leader_epoch_start_ms;
};

/* The hosted partition of (topic, index), or NULL. */
struct sd_partition *sd_partition_find(struct sd_broker *b, const char *topic, int32_t index);

/* ---- Broker ------------------------------------------------------------- */

struct sd_controller; /* controller.c */
struct sd_leaders;    /* broker.c */

struct sd_broker {
	uv_loop_t *loop;
	struct sd_config *cfg;
	int32_t id;
	const char *region;
	const char *rack;
	const char *cluster_id;
	uint64_t incarnation;
	struct sd_endpoint kafka_adv; /* advertised Kafka endpoint */
	struct sd_endpoint rpc_ep;
	struct sl_transport transport;
	struct sd_pm *pm;
	struct sk_server *kafka;
	struct sd_http *http;
	struct sd_metrics *metrics;
	struct sd_controller *ctl;
	struct sd_leaders *leaders;
	uv_signal_t sigterm, sigint;
	uv_timer_t housekeeping;
	bool stopping;
	int exit_code;
};

/* Kafka handlers (kh_*.c) register themselves on the listener. */
void sd_kh_register(struct sd_broker *b);
/* Wakes long-polling fetches of a partition (new data or HWM moved). */
void sd_kh_fetch_wake(struct sd_partition *p);
/* Fails every waiting fetch of a partition that is going away. */
void sd_kh_fetch_drop_all(struct sd_partition *p);

/* Admin HTTP routes and metrics (admin.c): start, stop listening (drain),
 * free the registry after the loop ended. */
int sd_admin_start(struct sd_broker *b);
void sd_admin_stop(struct sd_broker *b);
void sd_admin_free(struct sd_broker *b);

/* Opens / closes hosted data partitions (broker.c), called by reconcile. */
int sd_broker_open_partition(struct sd_broker *b, const struct sd_ctl_local *l, bool bootstrap);
void sd_broker_close_partition(struct sd_broker *b, uint64_t group_id, bool delete_data);

#endif /* SD_BROKER_H */
