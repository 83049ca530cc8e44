/* Reading a broker's configuration: typed and structured getters, the
 * cross-key checks of sd_config_finish(), and the effective-config dump. */
#include <stdio.h>
#include <string.h>

#include "server/config_int.h"
#include "server/http.h"
#include "server/kafka_conn.h"
#include "server/rpc_codec.h"
#include "server/transport.h"

const struct sd__config_slot *sd__config_slot(const struct sd_config *c, const char *name,
					      unsigned type_mask)
{
	SL_ASSERT(c != NULL && name != NULL);
	int idx = sd__config_index(SD_CONFIG_BROKER, name);
	SL_ASSERT(idx >= 0); /* a getter named a key that does not exist */
	size_t n;
	const struct sd_config_key *k = &sd_config_keys(&n)[idx];
	SL_ASSERT((type_mask & (1u << k->type)) != 0); /* and asked for the wrong type */
	return &c->slots[idx];
}

#define T(type)	 (1u << (type))
#define ANY_TYPE 0xffu

bool sd_config_bool(const struct sd_config *c, const char *name)
{
	return sd__config_slot(c, name, T(SD_CONFIG_BOOL))->v.b;
}

int64_t sd_config_int(const struct sd_config *c, const char *name)
{
	return sd__config_slot(c, name,
			       T(SD_CONFIG_INT) | T(SD_CONFIG_DURATION) | T(SD_CONFIG_BYTES))
	    ->v.i;
}

double sd_config_double(const struct sd_config *c, const char *name)
{
	return sd__config_slot(c, name, T(SD_CONFIG_DOUBLE))->v.d;
}

const char *sd_config_str(const struct sd_config *c, const char *name)
{
	const struct sd__config_slot *s = sd__config_slot(c, name, ANY_TYPE);
	return s->text != NULL ? s->text : "";
}

int sd_config_list(const struct sd_config *c, const char *name, const char *const **items)
{
	const struct sd__config_slot *s = sd__config_slot(c, name, T(SD_CONFIG_LIST));
	SL_ASSERT(items != NULL);
	*items = (const char *const *)s->items;
	return s->n_items;
}

enum sd_config_source sd_config_source_of(const struct sd_config *c, const char *name)
{
	return sd__config_slot(c, name, ANY_TYPE)->source;
}

const char *sd_config_origin(const struct sd_config *c, const char *name)
{
	const struct sd__config_slot *s = sd__config_slot(c, name, ANY_TYPE);
	return s->origin != NULL ? s->origin : "default";
}

/* ---- structured values -------------------------------------------------------- */

int sd_config_listeners(const struct sd_config *c, struct sd_listener *out)
{
	int n = sd_config_parse_listeners(sd_config_str(c, "listeners"), false, out,
					  SD_LISTENERS_MAX, NULL, 0);
	SL_ASSERT(n >= 0); /* checked when set */
	return n;
}

int sd_config_advertised_listeners(const struct sd_config *c, struct sd_listener *out)
{
	int n = sd_config_parse_listeners(sd_config_str(c, "advertised.listeners"), true, out,
					  SD_LISTENERS_MAX, NULL, 0);
	SL_ASSERT(n >= 0);
	return n > 0 ? n : sd_config_listeners(c, out);
}

void sd_config_endpoint(const struct sd_config *c, const char *name, struct sd_endpoint *out)
{
	int rv = sd_config_parse_endpoint(sd_config_str(c, name), false, out, NULL, 0);
	SL_ASSERT(rv == 0);
}

int sd_config_voters(const struct sd_config *c, struct sd_voter *out)
{
	int n = sd_config_parse_voters(sd_config_str(c, "controller.quorum.voters"), out,
				       SD_VOTERS_MAX, NULL, 0);
	SL_ASSERT(n >= 0);
	return n;
}

void sd_config_placement(const struct sd_config *c, struct pl_config *out)
{
	SL_ASSERT(c != NULL && out != NULL);
	pl_config_init(out);
	size_t n;
	const struct sd_config_key *keys = sd_config_keys(&n);
	for (size_t i = 0; i < n; i++) {
		if ((keys[i].flags & SD_CONFIG_F_PLACEMENT) == 0) {
			continue;
		}
		int rv = pl_config_set(out, keys[i].name, c->slots[i].text, NULL, 0);
		SL_ASSERT(rv == 0); /* the bounds here and in placement/ agree */
	}
}

void sd_config_transport(const struct sd_config *c, struct sl_transport_config *out)
{
	SL_ASSERT(c != NULL && out != NULL);
	sl_transport_config_init(out);
	out->backoff_base_ms = 50;
	out->backoff_max_ms = 1000;
	out->idle_timeout_ms = (uint32_t)sd_config_int(c, "transport.idle.timeout.ms");
}

void sd_config_kafka(const struct sd_config *c, struct sk_config *out)
{
	SL_ASSERT(c != NULL && out != NULL);
	sk_config_init(out);
	out->request_bytes_max = (uint32_t)sd_config_int(c, "socket.request.max.bytes");
	out->connections_max = (uint32_t)sd_config_int(c, "max.connections");
	out->inflight_requests_max =
	    (uint32_t)sd_config_int(c, "max.inflight.requests.per.connection");
	out->idle_timeout_ms = (uint32_t)sd_config_int(c, "connections.max.idle.ms");
	out->request_topics_max = (uint32_t)sd_config_int(c, "request.topics.max");
	out->request_partitions_max = (uint32_t)sd_config_int(c, "request.partitions.max");
}

void sd_config_http(const struct sd_config *c, struct sd_http_config *out)
{
	SL_ASSERT(c != NULL && out != NULL);
	sd_http_config_init(out);
	out->connections_max = (int)sd_config_int(c, "admin.connections.max");
	out->request_timeout_ms = (uint64_t)sd_config_int(c, "admin.request.timeout.ms");
}

/* ---- cross-key checks ----------------------------------------------------------- */

static int conflict(struct sd_config *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int conflict(struct sd_config *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	return SD_CONFIG_ECONFLICT;
}

static int check_required(struct sd_config *c)
{
	size_t n;
	const struct sd_config_key *keys = sd_config_keys(&n);
	for (size_t i = 0; i < n; i++) {
		if ((keys[i].flags & SD_CONFIG_F_REQUIRED) != 0 && c->slots[i].text == NULL) {
			sd__config_errmsg(c->errmsg, sizeof(c->errmsg),
					  "%s: required and not set (add it to the properties "
					  "file or pass --set %s=...)",
					  keys[i].name, keys[i].name);
			return SD_CONFIG_EREQUIRED;
		}
	}
	return 0;
}

static int check_listeners(struct sd_config *c)
{
	struct sd_listener ls[SD_LISTENERS_MAX], adv[SD_LISTENERS_MAX];
	int n = sd_config_listeners(c, ls);
	int n_adv = sd_config_parse_listeners(sd_config_str(c, "advertised.listeners"), true, adv,
					      SD_LISTENERS_MAX, NULL, 0);
	for (int i = 0; i < n_adv; i++) {
		bool found = false;
		for (int k = 0; k < n && !found; k++) {
			found = strcmp(adv[i].name, ls[k].name) == 0;
		}
		if (!found) {
			return conflict(c, "advertised.listeners: listener %s is not in listeners",
					adv[i].name);
		}
	}
	for (int k = 0; n_adv == 0 && k < n; k++) {
		if (ls[k].ep.wildcard || ls[k].ep.port == 0) {
			return conflict(c,
					"listeners: %s binds every interface or port 0, so "
					"advertised.listeners must say how clients reach it",
					ls[k].name);
		}
	}
	return 0;
}

/* Endpoints that must not share a port. */
struct bound {
	char what[64];
	struct sd_endpoint ep;
};

static int check_ports(struct sd_config *c)
{
	struct sd_listener ls[SD_LISTENERS_MAX];
	struct bound b[SD_LISTENERS_MAX + 2];
	int n = sd_config_listeners(c, ls);
	for (int i = 0; i < n; i++) {
		snprintf(b[i].what, sizeof(b[i].what), "listeners %.31s", ls[i].name);
		b[i].ep = ls[i].ep;
	}
	snprintf(b[n].what, sizeof(b[n].what), "rpc.listener");
	sd_config_endpoint(c, "rpc.listener", &b[n++].ep);
	snprintf(b[n].what, sizeof(b[n].what), "admin.listener");
	sd_config_endpoint(c, "admin.listener", &b[n++].ep);
	for (int i = 0; i < n; i++) {
		for (int k = i + 1; k < n; k++) {
			const struct sd_endpoint *x = &b[i].ep, *y = &b[k].ep;
			bool overlap = x->wildcard || y->wildcard || strcmp(x->host, y->host) == 0;
			if (x->port != 0 && x->port == y->port && overlap) {
				return conflict(c, "%s and %s both use port %u", b[i].what,
						b[k].what, (unsigned)x->port);
			}
		}
	}
	return 0;
}

static int check_rpc_reachable(struct sd_config *c)
{
	struct sd_endpoint rpc;
	sd_config_endpoint(c, "rpc.listener", &rpc);
	if (!rpc.wildcard || sd_config_str(c, "advertised.rpc.listener")[0] != '\0') {
		return 0;
	}
	struct sd_voter vs[SD_VOTERS_MAX];
	int n = sd_config_voters(c, vs);
	int64_t id = sd_config_int(c, "node.id");
	for (int i = 0; i < n; i++) {
		if (vs[i].id == id) {
			return 0;
		}
	}
	return conflict(c,
			"advertised.rpc.listener: rpc.listener listens on every interface and "
			"node.id %lld is not in controller.quorum.voters, so set "
			"advertised.rpc.listener to the address other brokers should use",
			(long long)id);
}

/* Liveness timeout against the heartbeat, and the largest Raft messages
 * against the transport's frame limit. */
static int check_transport(struct sd_config *c)
{
	int64_t idle = sd_config_int(c, "transport.idle.timeout.ms");
	int64_t heartbeat = sd_config_int(c, "raft.heartbeat.interval.ms");
	if (idle != 0 && (idle < 3 * heartbeat || idle < SL_TRANSPORT_IDLE_TIMEOUT_MS_MIN)) {
		return conflict(c,
				"transport.idle.timeout.ms (%lld) must be 0 (off) or at least 3 x "
				"raft.heartbeat.interval.ms (%lld) and at least %u",
				(long long)idle, (long long)heartbeat,
				SL_TRANSPORT_IDLE_TIMEOUT_MS_MIN);
	}
	struct sl_transport_config tc;
	sd_config_transport(c, &tc);
	const int64_t fixed = SL_TRANSPORT_FRAME_HEADER_BYTES + SL_RPC_APPEND_FIXED_BYTES;
	int64_t message = sd_config_int(c, "message.max.bytes");
	if (fixed + SL_RPC_ENTRY_HEADER_BYTES + message > (int64_t)tc.frame_bytes_max) {
		return conflict(
		    c,
		    "message.max.bytes (%lld) plus %lld bytes of Raft message and frame "
		    "encoding does not fit in an inter-broker frame (%u bytes): the "
		    "largest batch could never be replicated; lower message.max.bytes",
		    (long long)message, (long long)(fixed + SL_RPC_ENTRY_HEADER_BYTES),
		    tc.frame_bytes_max);
	}
	int64_t append = sd_config_int(c, "raft.append.max.bytes");
	int64_t entries = sd_config_int(c, "raft.max.inflight.entries");
	if (fixed + entries * SL_RPC_ENTRY_HEADER_BYTES + append > (int64_t)tc.frame_bytes_max) {
		return conflict(
		    c,
		    "raft.append.max.bytes (%lld) plus %lld bytes of encoding for up to "
		    "raft.max.inflight.entries (%lld) entries does not fit in an "
		    "inter-broker frame (%u bytes); lower raft.append.max.bytes",
		    (long long)append, (long long)(fixed + entries * SL_RPC_ENTRY_HEADER_BYTES),
		    (long long)entries, tc.frame_bytes_max);
	}
	return 0;
}

int sd_config_finish(struct sd_config *c)
{
	SL_ASSERT(c != NULL);
	c->errmsg[0] = '\0';
	int rv = check_required(c);
	if (rv != 0) {
		return rv;
	}
	if (sd_config_int(c, "raft.heartbeat.interval.ms") >=
	    sd_config_int(c, "raft.election.timeout.ms")) {
		return conflict(c,
				"raft.heartbeat.interval.ms (%lld) must be below "
				"raft.election.timeout.ms (%lld)",
				(long long)sd_config_int(c, "raft.heartbeat.interval.ms"),
				(long long)sd_config_int(c, "raft.election.timeout.ms"));
	}
	if (sd_config_int(c, "message.max.bytes") > sd_config_int(c, "socket.request.max.bytes")) {
		return conflict(c,
				"message.max.bytes (%lld) exceeds socket.request.max.bytes (%lld)",
				(long long)sd_config_int(c, "message.max.bytes"),
				(long long)sd_config_int(c, "socket.request.max.bytes"));
	}
	rv = check_transport(c);
	if (rv == 0) {
		rv = check_listeners(c);
	}
	if (rv == 0) {
		rv = check_ports(c);
	}
	if (rv == 0) {
		rv = check_rpc_reachable(c);
	}
	if (rv != 0) {
		return rv;
	}
	struct pl_config pc;
	sd_config_placement(c, &pc);
	char why[PL_ERRMSG_BYTES];
	if (pl_config_validate(&pc, why, sizeof(why)) != 0) {
		return conflict(c, "%s", why);
	}
	return 0;
}

/* ---- dump -------------------------------------------------------------------------- */

/* Writes v escaped for a properties file. */
static void put_prop_value(FILE *f, const char *v)
{
	for (const char *p = v; *p != '\0'; p++) {
		if (*p == '\\') {
			fputs("\\\\", f);
		} else if (*p == '\n') {
			fputs("\\n", f);
		} else if (*p == '\r') {
			fputs("\\r", f);
		} else if (p == v && (*p == ' ' || *p == '\t')) {
			fprintf(f, "\\%c", *p == ' ' ? ' ' : 't');
		} else {
			fputc(*p, f);
		}
	}
}

void sd_config_dump(const struct sd_config *c, FILE *f)
{
	SL_ASSERT(c != NULL && f != NULL);
	size_t n;
	const struct sd_config_key *keys = sd_config_keys(&n);
	for (size_t i = 0; i < n; i++) {
		if (keys[i].scope != SD_CONFIG_BROKER) {
			continue;
		}
		const struct sd__config_slot *s = &c->slots[i];
		if (s->text == NULL) {
			fprintf(f, "# %s is required and not set\n", keys[i].name);
			continue;
		}
		if (s->origin != NULL) {
			fprintf(f, "# from %s\n", s->origin);
		}
		fprintf(f, "%s=", keys[i].name);
		put_prop_value(f, s->text);
		fputc('\n', f);
	}
}
