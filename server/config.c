/* The configuration table of stretchlogd (every broker and topic key), the
 * value checks the table names, and the error table. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "raftlog/group.h"
#include "server/config_int.h"

#define DAY_MS (24LL * 3600 * 1000)
#define GIB    (1LL << 30)

/* ---- checks ---------------------------------------------------------------- */

static bool check_name(const char *v, char *err, size_t len)
{
	size_t n = strlen(v);
	bool ok = n >= 1 && n < PL_NAME_BYTES_MAX;
	for (const char *p = v; ok && *p != '\0'; p++) {
		ok = isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '/' || *p == '-';
	}
	if (!ok) {
		sd__config_errmsg(err, len,
				  "'%s' is not a name of 1 to %d characters from "
				  "[A-Za-z0-9._/-]",
				  v, PL_NAME_BYTES_MAX - 1);
	}
	return ok;
}

static bool check_cluster_id(const char *v, char *err, size_t len)
{
	size_t n = strlen(v);
	bool ok = n >= 1 && n <= 64;
	for (const char *p = v; ok && *p != '\0'; p++) {
		ok = isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-';
	}
	if (!ok) {
		sd__config_errmsg(err, len, "'%s' is not 1 to 64 characters from [A-Za-z0-9._-]",
				  v);
	}
	return ok;
}

static bool check_endpoint(const char *v, char *err, size_t len)
{
	struct sd_endpoint ep;
	return sd_config_parse_endpoint(v, false, &ep, err, len) == 0;
}

static bool check_endpoint_concrete(const char *v, char *err, size_t len)
{
	struct sd_endpoint ep;
	return sd_config_parse_endpoint(v, true, &ep, err, len) == 0;
}

static bool check_listeners(const char *v, char *err, size_t len)
{
	struct sd_listener ls[SD_LISTENERS_MAX];
	return sd_config_parse_listeners(v, false, ls, SD_LISTENERS_MAX, err, len) >= 0;
}

static bool check_advertised(const char *v, char *err, size_t len)
{
	struct sd_listener ls[SD_LISTENERS_MAX];
	return sd_config_parse_listeners(v, true, ls, SD_LISTENERS_MAX, err, len) >= 0;
}

static bool check_voters(const char *v, char *err, size_t len)
{
	struct sd_voter vs[SD_VOTERS_MAX];
	return sd_config_parse_voters(v, vs, SD_VOTERS_MAX, err, len) >= 0;
}

static bool check_paths(const char *v, char *err, size_t len)
{
	for (const char *p = v; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			sd__config_errmsg(err, len, "a path contains a control character");
			return false;
		}
	}
	return true;
}

static bool check_preference(const char *v, char *err, size_t len)
{
	struct pl_preference pref;
	char why[PL_ERRMSG_BYTES];
	if (pl_preference_parse(v, &pref, why, sizeof(why)) == 0) {
		return true;
	}
	const char *prefix = "leaders.preference: ";
	const char *w = strncmp(why, prefix, strlen(prefix)) == 0 ? why + strlen(prefix) : why;
	sd__config_errmsg(err, len, "%s", w);
	return false;
}

static bool check_compression(const char *v, char *err, size_t len)
{
	static const char *const kafka_only[] = {"gzip", "snappy", "zstd"};
	for (size_t i = 0; i < SL_ARRAY_LEN(kafka_only); i++) {
		if (strcasecmp(v, kafka_only[i]) == 0) {
			sd__config_errmsg(err, len,
					  "Kafka codec '%s' is not supported; use producer, none "
					  "or lz4",
					  v);
			return false;
		}
	}
	return true;
}

static bool check_cleanup(const char *v, char *err, size_t len)
{
	if (strcasestr(v, "compact") != NULL) {
		sd__config_errmsg(err, len,
				  "'%s': log compaction is not supported; the only policy is "
				  "'delete' (retention deletes whole segments)",
				  v);
		return false;
	}
	return true;
}

/* ---- the table ------------------------------------------------------------- */

static const char *const compression_choices[] = {"producer", "none", "lz4", NULL};
static const char *const cleanup_choices[] = {"delete", NULL};
static const char *const level_choices[] = {"debug", "info", "warn", "error", NULL};

/* Designated-initializer shorthands for the common shapes. */
#define K_INT(n, lo, hi, def, u, d)                                                                \
	{                                                                                          \
		.name = (n), .type = SD_CONFIG_INT, .min = (lo), .max = (hi),                      \
		.default_value = (def), .unit = (u), .description = (d)                            \
	}
#define K_DUR(n, lo, hi, def, d)                                                                   \
	{                                                                                          \
		.name = (n), .type = SD_CONFIG_DURATION, .min = (lo), .max = (hi),                 \
		.default_value = (def), .unit = "ms", .description = (d)                           \
	}
#define K_BYTES(n, lo, hi, def, u, d)                                                              \
	{                                                                                          \
		.name = (n), .type = SD_CONFIG_BYTES, .min = (lo), .max = (hi),                    \
		.default_value = (def), .unit = (u), .description = (d)                            \
	}
#define K_BOOL(n, def, d)                                                                          \
	{                                                                                          \
		.name = (n), .type = SD_CONFIG_BOOL, .default_value = (def), .unit = "",           \
		.description = (d)                                                                 \
	}

static const struct sd_config_key keys[] = {
    /* Identity and topology. */
    {.name = "node.id",
     .type = SD_CONFIG_INT,
     .flags = SD_CONFIG_F_REQUIRED,
     .min = 0,
     .max = INT32_MAX,
     .unit = "",
     .description = "This broker's id, unique in the cluster. It names the broker in "
		    "controller.quorum.voters, replica lists and Metadata responses."},
    {.name = "cluster.id",
     .type = SD_CONFIG_STRING,
     .min = 1,
     .max = 64,
     .default_value = "stretchlog",
     .check = check_cluster_id,
     .unit = "",
     .description = "Name of the cluster, 1 to 64 characters from [A-Za-z0-9._-]. Brokers "
		    "refuse inter-broker connections that carry another cluster id; it catches "
		    "misdirected configuration and is not a secret."},
    {.name = "broker.region",
     .type = SD_CONFIG_STRING,
     .min = 1,
     .max = PL_NAME_BYTES_MAX - 1,
     .default_value = "default",
     .check = check_name,
     .unit = "",
     .description = "Region this broker runs in. Voters are spread over regions first, and "
		    "leaders.preference names regions."},
    {.name = "broker.rack",
     .type = SD_CONFIG_STRING,
     .min = 1,
     .max = PL_NAME_BYTES_MAX - 1,
     .default_value = "default",
     .check = check_name,
     .unit = "",
     .description = "Rack (availability zone) of this broker inside its region, matched "
		    "against consumers' client.rack for follower fetching. A rack name belongs "
		    "to one region only."},

    /* Listeners. */
    {.name = "listeners",
     .type = SD_CONFIG_LIST,
     .min = 1,
     .max = SD_LISTENERS_MAX,
     .default_value = "PLAINTEXT://127.0.0.1:9092",
     .check = check_listeners,
     .unit = "",
     .description = "Kafka API listeners, NAME://host:port, comma-separated. Every listener "
		    "speaks PLAINTEXT; an empty host or 0.0.0.0 listens on every interface and "
		    "port 0 picks a free port."},
    {.name = "advertised.listeners",
     .type = SD_CONFIG_LIST,
     .min = 0,
     .max = SD_LISTENERS_MAX,
     .default_value = "",
     .check = check_advertised,
     .unit = "",
     .description = "Listeners as clients should reach them, named like entries of listeners, "
		    "with concrete hosts and ports. Empty: the listeners themselves, which then "
		    "must not bind a wildcard address."},
    {.name = "rpc.listener",
     .type = SD_CONFIG_STRING,
     .min = 1,
     .max = 300,
     .default_value = ":9093",
     .check = check_endpoint,
     .unit = "",
     .description = "host:port of the inter-broker listener (Raft messages and catch-up "
		    "transfers). An empty host listens on every interface."},
    {.name = "advertised.rpc.listener",
     .type = SD_CONFIG_STRING,
     .min = 0,
     .max = 300,
     .default_value = "",
     .check = check_endpoint_concrete,
     .unit = "",
     .description = "host:port other brokers use to reach rpc.listener. Empty: rpc.listener "
		    "when it names a host, else this broker's entry in "
		    "controller.quorum.voters."},
    {.name = "admin.listener",
     .type = SD_CONFIG_STRING,
     .min = 1,
     .max = 300,
     .default_value = ":9644",
     .check = check_endpoint,
     .unit = "",
     .description = "host:port of the admin HTTP server (GET /metrics, GET /v1/status)."},
    {.name = "controller.quorum.voters",
     .type = SD_CONFIG_LIST,
     .flags = SD_CONFIG_F_REQUIRED,
     .min = 1,
     .max = SD_VOTERS_MAX,
     .check = check_voters,
     .unit = "",
     .description = "Voters of the controller's Raft group as id@host:port (their "
		    "inter-broker addresses), comma-separated: 3 or 5 brokers spread across "
		    "regions. Every broker of the cluster lists the same voters."},

    /* Storage. */
    {.name = "log.dirs",
     .type = SD_CONFIG_LIST,
     .min = 1,
     .max = SD_LOG_DIRS_MAX,
     .default_value = "/tmp/stretchlog-logs",
     .check = check_paths,
     .unit = "",
     .description = "Directories holding partition logs, comma-separated; partitions are "
		    "spread over them."},
    K_BOOL("log.flush.fsync.enable", "true",
	   "Make appends durable with fdatasync before they count (acks, Raft persistence). "
	   "false trades crash safety for speed: a machine crash can lose acknowledged "
	   "writes. For tests and benchmarks only."),
    K_BYTES("log.segment.bytes", 4096, INT32_MAX, "1073741824", "bytes",
	    "A partition log rolls to a new segment file past this size. Cluster default of "
	    "the topic key segment.bytes."),
    K_DUR("log.retention.ms", -1, INT64_MAX, "604800000",
	  "Whole segments whose newest record timestamp is older than this are deleted (never "
	  "the active one); -1 keeps them forever. Cluster default of retention.ms."),
    K_BYTES("log.retention.bytes", -1, INT64_MAX, "-1", "bytes",
	    "Oldest whole segments are deleted while the rest of a partition still holds at "
	    "least this many bytes; -1 means no size limit. Cluster default of retention.bytes."),
    K_DUR("log.retention.check.interval.ms", 1000, DAY_MS, "300000",
	  "How often every hosted replica (leader or follower: each deletes its own segments) "
	  "applies its topic's retention limits."),
    {.name = "log.cleanup.policy",
     .type = SD_CONFIG_ENUM,
     .choices = cleanup_choices,
     .check = check_cleanup,
     .default_value = "delete",
     .unit = "",
     .description = "What happens to old segments: delete (compaction is not supported). "
		    "Cluster default of cleanup.policy."},
    {.name = "compression.type",
     .type = SD_CONFIG_ENUM,
     .choices = compression_choices,
     .check = check_compression,
     .default_value = "producer",
     .unit = "",
     .description = "Codec of stored batches: producer keeps each batch as the producer sent "
		    "it (stored verbatim); none or lz4 make the broker recompress. Cluster "
		    "default of the topic key compression.type."},
    K_BYTES("message.max.bytes", 128, GIB, "1048588", "bytes",
	    "Largest record batch a producer may send. Cluster default of max.message.bytes."),
    K_INT("min.insync.replicas", 1, PL_REPLICATION_FACTOR_MAX, "1", "replicas",
	  "An acks=all produce is refused with NOT_ENOUGH_REPLICAS while fewer than this many "
	  "voters, leader included, are in contact with the leader; commit itself always "
	  "needs a Raft majority."),

    /* Raft. */
    K_DUR("raft.election.timeout.ms", 100, 60000, "1000",
	  "Base Raft election timeout; libraft draws each timeout from [t, 2t). Voters outside "
	  "the preferred places add leaders.election.timeout.step.ms per rank. A follower "
	  "refuses votes while it has heard from its leader within this time."),
    K_DUR("raft.heartbeat.interval.ms", 10, 10000, "100",
	  "Interval of leader heartbeats; must be below raft.election.timeout.ms."),
    K_INT("raft.snapshot.interval.entries", 1, INT32_MAX, "10000", "entries",
	  "A partition records a snapshot (metadata only: the log is the state) every this "
	  "many applied entries."),
    K_INT("raft.snapshot.trailing.entries", 0, INT32_MAX, "10000", "entries",
	  "Entries kept behind a snapshot so that slightly lagging followers catch up from "
	  "the log rather than by a segment transfer."),
    K_INT("raft.max.inflight.entries", 1, 1024, "32", "entries",
	  "AppendEntries entries in flight per follower (raft_set_max_inflight_entries)."),
    K_BYTES("raft.coalesce.max.bytes", 0, RL_COALESCE_BYTES_LIMIT, "1048576", "bytes",
	    "A leader merges record batches submitted while earlier ones are in flight into "
	    "Raft entries of up to this size (message.max.bytes caps it too); 0 turns "
	    "coalescing off."),
    K_BYTES("raft.append.max.bytes", 1, RL_APPEND_BYTES_LIMIT, "8388608", "bytes",
	    "Most entry bytes in one AppendEntries message (a larger single entry goes alone). "
	    "It and message.max.bytes, with the message encoding overhead, must fit in an "
	    "inter-broker frame (16 MiB)."),

    /* Inter-broker transport. */
    K_DUR("transport.idle.timeout.ms", 0, 600000, "1000",
	  "An inter-broker connection on which nothing arrived for this long is closed and the "
	  "peer counted as down (its leaders are re-elected elsewhere) until it reconnects; "
	  "each side pings every quarter of it. This catches a frozen or unreachable broker "
	  "that TCP alone would notice only after minutes. 0 turns it off; otherwise at least "
	  "3 x raft.heartbeat.interval.ms."),

    /* Topics. */
    K_INT("num.partitions", 1, PL_PARTITIONS_MAX, "1", "partitions",
	  "Partitions of an automatically created topic, or of CreateTopics with -1."),
    K_INT("default.replication.factor", 1, PL_REPLICATION_FACTOR_MAX, "1", "replicas",
	  "Replication factor of an automatically created topic, or of CreateTopics with -1."),
    K_BOOL("auto.create.topics.enable", "true",
	   "Create a topic with the defaults when a client asks Metadata for an unknown one."),

    /* Consumer groups. */
    K_INT("offsets.topic.num.partitions", 1, 1000, "16", "partitions",
	  "Partitions of the internal topic __consumer_offsets, created on the first "
	  "FindCoordinator; a group's coordinator is the leader of one of them. Changing it "
	  "later has no effect on the existing topic."),
    K_INT("offsets.topic.replication.factor", 1, PL_REPLICATION_FACTOR_MAX, "3", "replicas",
	  "Replication factor of __consumer_offsets, capped to the number of brokers when the "
	  "cluster has fewer. Its retention is disabled: committed offsets are never deleted."),
    K_BYTES("offset.metadata.max.bytes", 0, 32767, "4096", "bytes",
	    "Largest metadata string of one committed offset; longer ones get "
	    "OFFSET_METADATA_TOO_LARGE."),
    K_DUR("group.min.session.timeout.ms", 1, 3600000, "6000",
	  "Smallest session timeout a consumer group member may ask for in JoinGroup."),
    K_DUR("group.max.session.timeout.ms", 1, 3600000, "1800000",
	  "Largest session timeout a consumer group member may ask for in JoinGroup."),
    K_DUR("group.initial.rebalance.delay.ms", 0, 300000, "300",
	  "How long the first rebalance of an empty group waits for more members (extended "
	  "by this much per member that joins, up to the rebalance timeout)."),
    K_INT("group.max.size", 1, 100000, "1000", "members",
	  "Most members of one consumer group; further joins get GROUP_MAX_SIZE_REACHED."),
    {.name = "leaders.preference",
     .type = SD_CONFIG_STRING,
     .min = 1,
     .max = SD_TOPIC_VALUE_BYTES_MAX,
     .default_value = "none",
     .check = check_preference,
     .unit = "",
     .description = "Where partition leaders should live: none, regions:r1[,r2...] in order, "
		    "or racks:a[,b...]. Cluster default of the topic key leaders.preference."},
    K_DUR("follower.read.max.staleness.ms", -1, DAY_MS, "10000",
	  "A follower serves fetches only while it heard from its leader within this time; "
	  "-1 disables follower reads. Cluster default of the topic key of the same name."),

    /* Leader pinning: placement/'s keys (pl_config_keys()). */
    {.name = "leaders.transfer.lag.max.entries",
     .type = SD_CONFIG_INT,
     .flags = SD_CONFIG_F_PLACEMENT,
     .min = 0,
     .max = INT64_MAX / 2,
     .default_value = "1000",
     .unit = "entries",
     .description = "A voter counts as caught up for leadership transfer when it is at most "
		    "this many entries behind the leader's last index."},
    {.name = "leaders.transfer.contact.age.max.ms",
     .type = SD_CONFIG_DURATION,
     .flags = SD_CONFIG_F_PLACEMENT,
     .min = 1,
     .max = DAY_MS,
     .default_value = "2000",
     .unit = "ms",
     .description = "A voter counts as reachable when the leader heard from it within this "
		    "time."},
    {.name = "leaders.transfer.healthy.min.ms",
     .type = SD_CONFIG_DURATION,
     .flags = SD_CONFIG_F_PLACEMENT,
     .min = 0,
     .max = DAY_MS,
     .default_value = "10000",
     .unit = "ms",
     .description = "A voter receives leadership only after being alive, reachable and caught "
		    "up continuously for this long."},
    {.name = "leaders.transfer.cool.down.ms",
     .type = SD_CONFIG_DURATION,
     .flags = SD_CONFIG_F_PLACEMENT,
     .min = 0,
     .max = DAY_MS,
     .default_value = "30000",
     .unit = "ms",
     .description = "No leadership transfer starts within this time after the last leadership "
		    "change."},
    {.name = "leaders.election.timeout.step.ms",
     .type = SD_CONFIG_DURATION,
     .flags = SD_CONFIG_F_PLACEMENT,
     .min = 0,
     .max = DAY_MS,
     .default_value = "500",
     .unit = "ms",
     .description = "Election timeout added per preference rank, counting only the places that "
		    "still have a live voter of the partition, so that the best live place stands "
		    "for election first."},

    /* Limits. */
    K_BYTES("socket.request.max.bytes", 1024, GIB, "104857600", "bytes",
	    "Largest Kafka request accepted; a larger frame closes the connection."),
    K_INT("max.connections", 1, 1000000, "10000", "connections",
	  "Kafka API connections accepted at once; more are closed on accept."),
    K_INT("max.inflight.requests.per.connection", 1, 1024, "16", "requests",
	  "Requests of one connection being processed at once; the broker stops reading the "
	  "connection at this many."),
    K_DUR("connections.max.idle.ms", 1000, 7 * DAY_MS, "600000",
	  "Kafka API connections idle this long are closed."),
    K_INT("request.topics.max", 1, 1000000, "10000", "topics",
	  "Topics in one request; a request naming more is refused with INVALID_REQUEST."),
    K_INT("request.partitions.max", 1, 10000000, "100000", "partitions",
	  "Partitions in one request, over all its topics; more are refused with "
	  "INVALID_REQUEST."),

    /* Replication. */
    K_BYTES("replica.catchup.bytes.per.sec", 0, INT64_MAX, "104857600", "bytes/s",
	    "Bandwidth of catch-up transfers (log ranges streamed to a replica too far behind "
	    "for Raft's own messages) per broker, over all partitions and peers; 0 means "
	    "unlimited. Raft messages and heartbeats never wait behind them."),

    /* Admin and process. */
    K_INT("admin.connections.max", 1, 10000, "64", "connections",
	  "Admin HTTP connections accepted at once; more are closed on accept."),
    K_DUR("admin.request.timeout.ms", 100, 600000, "10000",
	  "An admin HTTP request must arrive completely within this time."),
    K_INT("metrics.series.per.metric.max", 1, 100000, "1000", "series",
	  "Series (label combinations) per metric; more are dropped and counted in "
	  "stretchlog_metrics_series_overflow_total."),
    K_DUR("shutdown.drain.timeout.ms", 0, 600000, "30000",
	  "On SIGTERM the broker stops accepting, hands off leadership and finishes in-flight "
	  "requests for at most this long before exiting."),
    {.name = "logging.level",
     .type = SD_CONFIG_ENUM,
     .choices = level_choices,
     .default_value = "info",
     .unit = "",
     .description = "Lowest level of log lines written to stderr."},

    /* Topic keys: default from the synonym broker key. */
    {.name = "leaders.preference",
     .type = SD_CONFIG_STRING,
     .scope = SD_CONFIG_TOPIC,
     .min = 1,
     .max = SD_TOPIC_VALUE_BYTES_MAX,
     .check = check_preference,
     .synonym = "leaders.preference",
     .unit = "",
     .description = "Where this topic's leaders live: none, regions:r1[,r2...] (first live "
		    "region wins) or racks:a[,b...]. Leaders move back once a preferred place "
		    "is healthy again."},
    {.name = "follower.read.max.staleness.ms",
     .type = SD_CONFIG_DURATION,
     .scope = SD_CONFIG_TOPIC,
     .min = -1,
     .max = DAY_MS,
     .synonym = "follower.read.max.staleness.ms",
     .unit = "ms",
     .description = "Consumers may read from a follower that heard from its leader within "
		    "this time; -1 sends every fetch to the leader."},
    {.name = "retention.ms",
     .type = SD_CONFIG_DURATION,
     .scope = SD_CONFIG_TOPIC,
     .min = -1,
     .max = INT64_MAX,
     .synonym = "log.retention.ms",
     .unit = "ms",
     .description = "Delete whole segments whose newest record timestamp is older than "
		    "this (never the active one); -1 keeps them forever."},
    {.name = "retention.bytes",
     .type = SD_CONFIG_BYTES,
     .scope = SD_CONFIG_TOPIC,
     .min = -1,
     .max = INT64_MAX,
     .synonym = "log.retention.bytes",
     .unit = "bytes",
     .description = "Delete the oldest whole segments while the rest still holds at least "
		    "this many bytes; -1 means no size limit."},
    {.name = "segment.bytes",
     .type = SD_CONFIG_BYTES,
     .scope = SD_CONFIG_TOPIC,
     .min = 4096,
     .max = INT32_MAX,
     .synonym = "log.segment.bytes",
     .unit = "bytes",
     .description = "Roll to a new segment file past this size. Read when a replica opens "
		    "the partition (creation or broker start)."},
    {.name = "compression.type",
     .type = SD_CONFIG_ENUM,
     .scope = SD_CONFIG_TOPIC,
     .choices = compression_choices,
     .check = check_compression,
     .synonym = "compression.type",
     .unit = "",
     .description = "Codec of stored batches: producer (as sent), none or lz4."},
    {.name = "max.message.bytes",
     .type = SD_CONFIG_BYTES,
     .scope = SD_CONFIG_TOPIC,
     .min = 128,
     .max = GIB,
     .synonym = "message.max.bytes",
     .unit = "bytes",
     .description = "Largest record batch a producer may send to this topic."},
    {.name = "cleanup.policy",
     .type = SD_CONFIG_ENUM,
     .scope = SD_CONFIG_TOPIC,
     .choices = cleanup_choices,
     .check = check_cleanup,
     .synonym = "log.cleanup.policy",
     .unit = "",
     .description = "delete: retention deletes whole segments. compact is refused: log "
		    "compaction is not supported."},
    {.name = "min.insync.replicas",
     .type = SD_CONFIG_INT,
     .scope = SD_CONFIG_TOPIC,
     .min = 1,
     .max = PL_REPLICATION_FACTOR_MAX,
     .synonym = "min.insync.replicas",
     .unit = "replicas",
     .description = "acks=all produce needs this many voters, leader included, in contact "
		    "with the leader (commit always needs a Raft majority)."},
};

const struct sd_config_key *sd_config_keys(size_t *n)
{
	SL_ASSERT(n != NULL);
	*n = SL_ARRAY_LEN(keys);
	return keys;
}

int sd__config_index(enum sd_config_scope scope, const char *name)
{
	if (name == NULL) {
		return -1;
	}
	for (size_t i = 0; i < SL_ARRAY_LEN(keys); i++) {
		if (keys[i].scope == scope && strcmp(keys[i].name, name) == 0) {
			return (int)i;
		}
	}
	return -1;
}

const struct sd_config_key *sd_config_key_find(enum sd_config_scope scope, const char *name)
{
	int i = sd__config_index(scope, name);
	return i < 0 ? NULL : &keys[i];
}

const char *sd_config_type_name(enum sd_config_type type)
{
	static const char *const names[] = {"bool", "int",  "double",	"string",
					    "enum", "list", "duration", "bytes"};
	return (size_t)type < SL_ARRAY_LEN(names) ? names[type] : "?";
}

/* ---- errors ---------------------------------------------------------------- */

const char *sd_config_strerror(int err)
{
	if (err == 0) {
		return "success";
	}
	switch (err) {
#define SD_CONFIG_ERR_MSG(name, value, text)                                                       \
	case (value):                                                                              \
		return (text);
		SD_CONFIG_ERRORS(SD_CONFIG_ERR_MSG)
#undef SD_CONFIG_ERR_MSG
	default:
		return "unknown error";
	}
}

const char *sd_config_err_name(int err)
{
	if (err == 0) {
		return "0";
	}
	switch (err) {
#define SD_CONFIG_ERR_NAME(name, value, text)                                                      \
	case (value):                                                                              \
		return #name;
		SD_CONFIG_ERRORS(SD_CONFIG_ERR_NAME)
#undef SD_CONFIG_ERR_NAME
	default:
		return "SD_CONFIG_UNKNOWN";
	}
}

void sd__config_errmsg(char *errmsg, size_t len, const char *fmt, ...)
{
	if (errmsg == NULL || len == 0) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, len, fmt, ap);
	va_end(ap);
}
