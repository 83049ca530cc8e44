/* Configuration of stretchlogd: the one table of broker and topic keys, the
 * Kafka-style properties-file parser, --set overrides, typed getters, the
 * --help-config text and the generated docs/configuration.md, and the topic
 * config checks behind CreateTopics, AlterConfigs and DescribeConfigs.
 *
 * THE TABLE. Every key is one struct sd_config_key in a static table: name,
 * type, bounds, default, unit and a one-sentence description. Broker keys
 * come from the properties file and --set; topic keys come from clients
 * (CreateTopics, AlterConfigs) and take their cluster default from a broker
 * key, the topic key's *synonym*, as in Kafka (retention.ms <-
 * log.retention.ms, max.message.bytes <- message.max.bytes). The leader
 * pinning keys (leaders.transfer.*, leaders.election.timeout.step.ms) are
 * placement/'s; they appear in this table with placement's bounds and
 * defaults (a unit test keeps the two equal) and sd_config_placement() hands
 * them over.
 *
 * VALUE SYNTAX. Values are trimmed of blanks at both ends. bool: true or
 * false, any case. int: decimal. double: decimal with optional fraction and
 * exponent. duration: integer milliseconds, or an integer with a suffix ms,
 * s, m, min, h or d (any case): "30s" is 30000. bytes: an integer with an
 * optional binary suffix k, m, g or t (optionally followed by b or ib, any
 * case): "64k" is 65536. Suffixes are not allowed on negative values (-1
 * means "no limit" where the bounds allow it). enum: one of the listed
 * choices, any case. list: items separated by commas, each trimmed, none
 * empty; the bounds count items. string: the bounds count bytes. Keys may
 * add a check (host:port syntax, names, leaders.preference).
 *
 * PROPERTIES FILES follow java.util.Properties: a line whose first non-blank
 * character is '#' or '!' is a comment; a key ends at the first unescaped
 * '=', ':' or blank, and one '=' or ':' with blanks around it separates it
 * from the value; a line ending in an odd number of backslashes continues on
 * the next line, whose leading blanks are dropped; escapes \t \n \r \f \uXXXX
 * and backslash before any other character (which stands for itself) work in
 * keys and values. Two deliberate differences: the file is read as UTF-8
 * (not ISO-8859-1), and trailing blanks of a value are dropped unless
 * escaped. A key set twice in one file, an unknown key, a malformed line or a
 * bad value is an error naming the file, the line and the key.
 *
 * ERRORS are negative SD_CONFIG_* codes; the configuration's errmsg says
 * which key and where ("broker.properties:12: log.segment.bytes: '1x' is not
 * a byte size"). Topic checks return Kafka error codes instead, as the
 * handlers need them. Getters asked for a key that does not exist or has
 * another type trip SL_ASSERT: that is a programming error.
 *
 * THREADS. A configuration is built on one thread and then only read;
 * concurrent reads are safe. */
#ifndef SD_SERVER_CONFIG_H
#define SD_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "placement/placement.h"

/* ---- limits -------------------------------------------------------------- */

/* Bytes of a properties file. */
#define SD_CONFIG_FILE_BYTES_MAX (1u << 20)
/* Bytes of one logical line (continuations joined). */
#define SD_CONFIG_LINE_BYTES_MAX (64u << 10)
/* Bytes of a broker value, NUL excluded. */
#define SD_CONFIG_VALUE_BYTES_MAX 4096
/* Bytes of a topic value (from clients), NUL excluded. */
#define SD_TOPIC_VALUE_BYTES_MAX 1024
/* Configs in one CreateTopics or AlterConfigs resource. */
#define SD_TOPIC_CONFIGS_MAX 64
/* Topic keys in the table (size of a describe array). */
#define SD_TOPIC_KEYS_MAX 16
/* Entries in listeners and advertised.listeners. */
#define SD_LISTENERS_MAX 8
/* Entries in controller.quorum.voters. */
#define SD_VOTERS_MAX 9
/* Entries in log.dirs. */
#define SD_LOG_DIRS_MAX 16
/* Bytes of a host name or address, NUL included. */
#define SD_HOST_BYTES_MAX 256
/* Bytes of a listener name, NUL included. */
#define SD_LISTENER_NAME_BYTES_MAX 32
/* Bytes of an errmsg that always fits a message. */
#define SD_CONFIG_ERRMSG_BYTES 512

/* ---- errors -------------------------------------------------------------- */

/* Error codes, negative, from -600 down. The X-macro feeds the enum,
 * sd_config_strerror() and sd_config_err_name(). */
#define SD_CONFIG_ERRORS(X)                                                                        \
	X(SD_CONFIG_ENOMEM, -600, "out of memory")                                                 \
	X(SD_CONFIG_EIO, -601, "cannot read the configuration file")                               \
	X(SD_CONFIG_ESYNTAX, -602, "malformed properties line")                                    \
	X(SD_CONFIG_EUNKNOWN, -603, "unknown configuration key")                                   \
	X(SD_CONFIG_EVALUE, -604, "invalid value: wrong type, out of bounds or bad syntax")        \
	X(SD_CONFIG_EDUP, -605, "key set twice in one file")                                       \
	X(SD_CONFIG_EREQUIRED, -606, "a required key is not set")                                  \
	X(SD_CONFIG_ECONFLICT, -607, "keys contradict each other")                                 \
	X(SD_CONFIG_ETOOBIG, -608, "file, line or value exceeds its byte limit")

enum sd_config_error {
#define SD_CONFIG_ERR_ENUM(name, value, text) name = (value),
	SD_CONFIG_ERRORS(SD_CONFIG_ERR_ENUM)
#undef SD_CONFIG_ERR_ENUM
};

/* Returns a static description of an SD_CONFIG_* code ("success" for 0,
 * "unknown error" otherwise). Never returns NULL. */
const char *sd_config_strerror(int err);

/* Returns the static symbolic name of an SD_CONFIG_* code, "0" for success,
 * or "SD_CONFIG_UNKNOWN". Never returns NULL. */
const char *sd_config_err_name(int err);

/* Kafka error codes the topic checks return. */
#define SD_KAFKA_NONE		0
#define SD_KAFKA_INVALID_CONFIG 40

/* ---- the table ----------------------------------------------------------- */

/* Value types (see VALUE SYNTAX). */
enum sd_config_type {
	SD_CONFIG_BOOL = 0,
	SD_CONFIG_INT,
	SD_CONFIG_DOUBLE,
	SD_CONFIG_STRING,
	SD_CONFIG_ENUM,
	SD_CONFIG_LIST,
	SD_CONFIG_DURATION, /* stored as int64 milliseconds */
	SD_CONFIG_BYTES,    /* stored as int64 bytes */
};

/* Who sets a key. */
enum sd_config_scope {
	SD_CONFIG_BROKER = 0, /* properties file and --set */
	SD_CONFIG_TOPIC,      /* CreateTopics / AlterConfigs, default from synonym */
};

/* Key flags. */
#define SD_CONFIG_F_REQUIRED  1u /* no default: the broker does not start without it */
#define SD_CONFIG_F_PLACEMENT 2u /* a placement/ tunable (struct pl_config) */
#define SD_CONFIG_F_SENSITIVE 4u /* a secret: DescribeConfigs shows no value */

/* Checks a value beyond its type: a non-empty STRING value; an ENUM value
 * before it is matched against the choices (to explain unsupported ones); a
 * non-empty LIST in canonical form (items trimmed and joined by ','), so the
 * check can also compare items. Returns true if valid; otherwise writes why
 * into errmsg (without the key name) and returns false. */
typedef bool (*sd_config_check_fn)(const char *value, char *errmsg, size_t errmsg_len);

/* One configuration key. */
struct sd_config_key {
	const char *name;
	enum sd_config_type type;
	enum sd_config_scope scope;
	unsigned flags;		    /* SD_CONFIG_F_* */
	int64_t min, max;	    /* inclusive: INT, DURATION, BYTES values; LIST item
				     * counts; STRING byte lengths */
	double dmin, dmax;	    /* inclusive, DOUBLE */
	const char *default_value;  /* text; NULL for required keys and topic keys */
	const char *const *choices; /* ENUM: NULL-terminated, lower case */
	sd_config_check_fn check;   /* NULL or an extra check */
	const char *synonym;	    /* topic keys: the broker key with the default */
	const char *unit;	    /* "ms", "bytes", "bytes/s", "" ... */
	const char *description;    /* one or two sentences */
};

/* Returns the table (static) and its length in *n. Broker keys come first,
 * then topic keys. */
const struct sd_config_key *sd_config_keys(size_t *n);

/* Returns the key of that scope and name, or NULL. */
const struct sd_config_key *sd_config_key_find(enum sd_config_scope scope, const char *name);

/* Returns "bool", "int", "double", "string", "enum", "list", "duration" or
 * "bytes". */
const char *sd_config_type_name(enum sd_config_type type);

/* A parsed value: b for BOOL, i for INT, DURATION and BYTES, d for DOUBLE;
 * STRING, ENUM and LIST values live in the canonical text. */
union sd_config_value {
	bool b;
	int64_t i;
	double d;
};

/* Parses text (trimmed first) as a value of key: type, bounds, choices and
 * check. On success returns 0, fills *out and writes the canonical text
 * ("30s" -> "30000", "LZ4" -> "lz4", list items trimmed and joined by ',')
 * into canon (canon_len bytes; SD_CONFIG_VALUE_BYTES_MAX + 1 always fits).
 * Otherwise returns SD_CONFIG_EVALUE (or SD_CONFIG_ETOOBIG for a value longer
 * than SD_CONFIG_VALUE_BYTES_MAX) with errmsg saying why, prefixed by the key
 * name. All pointers are borrowed for the call. */
int sd_config_value_parse(const struct sd_config_key *key, const char *text, char *canon,
			  size_t canon_len, union sd_config_value *out, char *errmsg,
			  size_t errmsg_len);

/* Prints every key to f, for `stretchlogd --help-config`. */
void sd_config_help(FILE *f);

/* Writes the configuration reference, docs/configuration.md, to f. Returns 0
 * or SD_CONFIG_EIO if writing failed. */
int sd_config_write_markdown(FILE *f);

/* ---- a broker's configuration ------------------------------------------- */

/* Where a broker value came from. */
enum sd_config_source {
	SD_CONFIG_SOURCE_DEFAULT = 0,
	SD_CONFIG_SOURCE_FILE,
	SD_CONFIG_SOURCE_OVERRIDE, /* --set or sd_config_set() */
};

/* A broker's configuration: one value per broker key. Opaque. */
struct sd_config;

/* Creates a configuration holding every default (required keys unset) in
 * *out. Returns 0 or SD_CONFIG_ENOMEM. */
int sd_config_new(struct sd_config **out);

/* Releases a configuration (NULL-safe); strings it returned become invalid. */
void sd_config_free(struct sd_config *c);

/* Reads a properties file (path copied) of at most SD_CONFIG_FILE_BYTES_MAX
 * bytes and sets every key in it. Returns 0 or the first error
 * (SD_CONFIG_EIO, ESYNTAX, EUNKNOWN, EVALUE, EDUP, ETOOBIG, ENOMEM) with
 * errmsg naming the file, the line and the key; keys set before the error
 * keep their new values. */
int sd_config_load_file(struct sd_config *c, const char *path);

/* As sd_config_load_file() for text already in memory (len bytes, borrowed
 * for the call); origin names it in error messages (copied). */
int sd_config_load_text(struct sd_config *c, const char *text, size_t len, const char *origin);

/* Sets one broker key from text (all copied), replacing any earlier value
 * whatever its source. origin names the setter in messages (NULL: "--set").
 * Returns 0, SD_CONFIG_EUNKNOWN (errmsg hints at the broker synonym when
 * name is a topic key), SD_CONFIG_EVALUE, SD_CONFIG_ETOOBIG or
 * SD_CONFIG_ENOMEM. */
int sd_config_set(struct sd_config *c, const char *name, const char *value, const char *origin);

/* Applies one `--set key=value` argument (copied): splits at the first '='.
 * Returns as sd_config_set(), or SD_CONFIG_ESYNTAX without a '='. */
int sd_config_set_arg(struct sd_config *c, const char *arg);

/* Checks what single keys cannot: required keys are set, heartbeat below
 * election timeout, transport.idle.timeout.ms 0 or at least three heartbeat
 * intervals, message.max.bytes within socket.request.max.bytes, one
 * AppendEntries of a message.max.bytes batch and one of raft.append.max.bytes
 * (raft.max.inflight.entries entries) within the transport's frame limit,
 * advertised listener names among the listeners and advertised hosts
 * concrete (when advertised.listeners is empty the listeners are advertised,
 * so they must not bind a wildcard address), distinct voter ids, no port
 * shared by two listeners, and placement's own validation. Call once after
 * the file and the overrides. Returns 0, SD_CONFIG_EREQUIRED or
 * SD_CONFIG_ECONFLICT with errmsg naming the keys. */
int sd_config_finish(struct sd_config *c);

/* Returns the last error's message, "" if none. Borrowed until the next call
 * on c. */
const char *sd_config_errmsg(const struct sd_config *c);

/* Typed getters of broker keys. The key must exist with a matching type
 * (SL_ASSERT otherwise). sd_config_int() reads INT, DURATION and BYTES keys.
 * sd_config_str() returns any key's canonical text (borrowed from c; "" for
 * an unset required key). sd_config_list() stores in *items the items
 * (borrowed from c) and returns their count. */
bool sd_config_bool(const struct sd_config *c, const char *name);
int64_t sd_config_int(const struct sd_config *c, const char *name);
double sd_config_double(const struct sd_config *c, const char *name);
const char *sd_config_str(const struct sd_config *c, const char *name);
int sd_config_list(const struct sd_config *c, const char *name, const char *const **items);

/* Returns where a key's value came from, and a static-or-borrowed origin
 * text ("default", "--set", "broker.properties:12"). */
enum sd_config_source sd_config_source_of(const struct sd_config *c, const char *name);
const char *sd_config_origin(const struct sd_config *c, const char *name);

/* Writes every broker key as `key=value` lines (a valid properties file of
 * the effective configuration, with origins as comments) to f. */
void sd_config_dump(const struct sd_config *c, FILE *f);

/* ---- structured values --------------------------------------------------- */

/* A host and port. An empty host (":9093") or 0.0.0.0 / :: means every
 * interface: host is then "0.0.0.0" or "::" and wildcard is true. IPv6
 * addresses are written in brackets ("[::1]:9092") and stored without. */
struct sd_endpoint {
	char host[SD_HOST_BYTES_MAX];
	uint16_t port; /* 0 asks the system for an ephemeral port (tests) */
	bool wildcard;
};

/* A Kafka listener "NAME://host:port". Every listener speaks PLAINTEXT;
 * NAME is [A-Z_][A-Z0-9_]* and may not be SSL, SASL_PLAINTEXT or SASL_SSL. */
struct sd_listener {
	char name[SD_LISTENER_NAME_BYTES_MAX];
	struct sd_endpoint ep;
};

/* One controller quorum voter "id@host:port". */
struct sd_voter {
	int32_t id;
	struct sd_endpoint ep;
};

/* Parses "host:port", "[v6]:port" or ":port". When concrete is true the host
 * must be given and not a wildcard, and the port must not be 0. Returns 0 or
 * SD_CONFIG_EVALUE with errmsg. text is borrowed for the call. */
int sd_config_parse_endpoint(const char *text, bool concrete, struct sd_endpoint *out, char *errmsg,
			     size_t errmsg_len);

/* Parses a comma-separated listener list into out (max entries) and returns
 * the count (>= 0) or SD_CONFIG_EVALUE with errmsg (bad entry, repeated name,
 * more than max). concrete as for sd_config_parse_endpoint(). */
int sd_config_parse_listeners(const char *text, bool concrete, struct sd_listener *out, int max,
			      char *errmsg, size_t errmsg_len);

/* Parses controller.quorum.voters ("1@h1:9093,2@h2:9093") into out (max
 * entries) and returns the count or SD_CONFIG_EVALUE with errmsg (bad entry,
 * repeated id, more than max). Hosts must be concrete. */
int sd_config_parse_voters(const char *text, struct sd_voter *out, int max, char *errmsg,
			   size_t errmsg_len);

/* Fills out with the listeners (at most SD_LISTENERS_MAX) and returns their
 * count. */
int sd_config_listeners(const struct sd_config *c, struct sd_listener *out);

/* Fills out with advertised.listeners, or the listeners when it is empty,
 * and returns the count. */
int sd_config_advertised_listeners(const struct sd_config *c, struct sd_listener *out);

/* Fills out with an endpoint key: "rpc.listener" or "admin.listener". */
void sd_config_endpoint(const struct sd_config *c, const char *name, struct sd_endpoint *out);

/* Fills out with the controller voters (at most SD_VOTERS_MAX) and returns
 * their count (0 while the key is unset). */
int sd_config_voters(const struct sd_config *c, struct sd_voter *out);

/* Fills out with placement's tunables from the leaders.* keys. */
void sd_config_placement(const struct sd_config *c, struct pl_config *out);

struct sl_transport_config;

/* Fills out with the inter-broker transport's settings: the transport's
 * defaults (cluster_id left NULL for the caller), the broker's reconnect
 * backoff (50 ms doubling to 1 s) and transport.idle.timeout.ms. The frame
 * limit in out is the one sd_config_finish() checks message.max.bytes and
 * raft.append.max.bytes against. */
void sd_config_transport(const struct sd_config *c, struct sl_transport_config *out);

struct sk_config;
struct sd_http_config;

/* Fills out with the Kafka listener's settings: sk_config_init()'s defaults,
 * then socket.request.max.bytes, max.connections,
 * max.inflight.requests.per.connection, connections.max.idle.ms,
 * request.topics.max and request.partitions.max. */
void sd_config_kafka(const struct sd_config *c, struct sk_config *out);

/* Fills out with the admin HTTP server's settings: sd_http_config_init()'s
 * defaults, then admin.connections.max and admin.request.timeout.ms. */
void sd_config_http(const struct sd_config *c, struct sd_http_config *out);

/* ---- topic configs (CreateTopics, AlterConfigs, DescribeConfigs) -------- */

/* One config of a request: name and value borrowed for the call; a NULL
 * value means "use the cluster default" (AlterConfigs delete). */
struct sd_config_kv {
	const char *name;
	const char *value;
};

/* compression.type values. */
enum sd_compression {
	SD_COMPRESSION_PRODUCER = 0, /* keep batches as the producer sent them */
	SD_COMPRESSION_NONE,
	SD_COMPRESSION_LZ4,
};

/* A topic's effective configuration: overrides over cluster defaults. */
struct sd_topic_config {
	struct pl_preference leaders_preference;
	int64_t follower_read_max_staleness_ms; /* < 0: follower reads disabled */
	int64_t retention_ms;			/* < 0: no time limit */
	int64_t retention_bytes;		/* < 0: no size limit */
	int64_t segment_bytes;
	int64_t max_message_bytes;
	enum sd_compression compression;
	int32_t min_insync_replicas;
	/* cleanup.policy is always "delete". */
};

/* Checks one topic config. Returns SD_KAFKA_NONE, or SD_KAFKA_INVALID_CONFIG
 * with msg (msg_len bytes) saying why: an unknown key (naming the broker key
 * if it is one), a bad value, an unsupported choice (compaction, codecs
 * other than lz4). A NULL value is valid. */
int16_t sd_topic_config_check(const char *name, const char *value, char *msg, size_t msg_len);

/* Checks a request's configs: each one, at most SD_TOPIC_CONFIGS_MAX, no key
 * twice. Returns as sd_topic_config_check(). */
int16_t sd_topic_config_check_all(const struct sd_config_kv *kv, int n, char *msg, size_t msg_len);

/* Computes a topic's effective configuration from its overrides (kv, n,
 * borrowed) over the broker's cluster defaults. Returns as
 * sd_topic_config_check_all(). */
int16_t sd_topic_config_resolve(const struct sd_config *broker, const struct sd_config_kv *kv,
				int n, struct sd_topic_config *out, char *msg, size_t msg_len);

/* Kafka DescribeConfigs ConfigSource values. */
#define SD_KAFKA_SOURCE_DYNAMIC_TOPIC 1
#define SD_KAFKA_SOURCE_STATIC_BROKER 4
#define SD_KAFKA_SOURCE_DEFAULT	      5

/* Kafka DescribeConfigs ConfigType values. */
#define SD_KAFKA_TYPE_BOOLEAN 1
#define SD_KAFKA_TYPE_STRING  2
#define SD_KAFKA_TYPE_INT     3
#define SD_KAFKA_TYPE_LONG    5
#define SD_KAFKA_TYPE_DOUBLE  6
#define SD_KAFKA_TYPE_LIST    7

/* The Kafka ConfigType (SD_KAFKA_TYPE_*) of a key's values. */
int8_t sd_config_kafka_type(const struct sd_config_key *k);

/* One row of a DescribeConfigs answer for a topic. */
struct sd_config_description {
	const char *name;			  /* static */
	char value[SD_TOPIC_VALUE_BYTES_MAX + 1]; /* canonical effective value */
	bool read_only;				  /* always false: every topic key is alterable */
	bool is_default;			  /* as Kafka: source is DEFAULT (neither a topic
						   * override nor a broker setting) */
	bool is_sensitive;			  /* always false */
	int8_t source;				  /* SD_KAFKA_SOURCE_* */
	int8_t config_type;			  /* SD_KAFKA_TYPE_* */
	const char *documentation;		  /* static */
	const char *synonym;			  /* broker key, static */
	const char *synonym_value;		  /* borrowed from the broker configuration */
	int8_t synonym_source;			  /* STATIC_BROKER or DEFAULT */
};

/* Describes every topic key, in table order, for a topic with the given
 * overrides (kv, n, borrowed; assumed checked, as stored by the controller):
 * fills out (SD_TOPIC_KEYS_MAX entries) and returns how many. An override
 * that no longer parses is reported with its raw text. */
int sd_topic_config_describe(const struct sd_config *broker, const struct sd_config_kv *kv, int n,
			     struct sd_config_description *out);

#endif /* SD_SERVER_CONFIG_H */
