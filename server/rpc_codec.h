/* Wire codec for libraft messages (struct raft_message): the bytes one broker
 * sends another for each Raft RPC of one group. Public to server/ and to the
 * group driver; it does no I/O and needs only raft.h.
 *
 * Wire format, version 1. All integers are big-endian. A message is exactly
 * as long as its fields: trailing bytes are an error, so a truncated or padded
 * message never decodes.
 *
 *   header (4 bytes, every type)
 *     u8  codec_version   SL_RPC_CODEC_VERSION (1)
 *     u8  type            enum raft_message_type, 1..6
 *     u8  raft_version    the `version` field of the libraft struct, carried
 *                         verbatim
 *     u8  reserved        0
 *
 *   RAFT_APPEND_ENTRIES (1)
 *     u64 term, u64 prev_log_index, u64 prev_log_term, u64 leader_commit
 *     u32 n_entries
 *     n_entries x entry header (16 bytes each):
 *       u64 term, u8 type (RAFT_COMMAND/BARRIER/CHANGE), u8[3] reserved (0),
 *       u32 data_len
 *     the entries' data, concatenated in order (sum of data_len bytes)
 *   RAFT_APPEND_ENTRIES_RESULT (2)
 *     u64 term, u64 rejected, u64 last_log_index, u16 features, u16 capacity
 *   RAFT_REQUEST_VOTE (3)
 *     u64 term, u64 candidate_id, u64 last_log_index, u64 last_log_term,
 *     u8 flags (bit 0 disrupt_leader, bit 1 pre_vote; other bits 0)
 *   RAFT_REQUEST_VOTE_RESULT (4)
 *     u64 term, u8 flags (bit 0 vote_granted, bit 1 pre_vote; other bits 0),
 *     u16 features, u16 capacity
 *   RAFT_INSTALL_SNAPSHOT (5)
 *     u64 term, u64 last_index, u64 last_term, u64 conf_index
 *     u32 conf_len, conf_len bytes of raft_configuration_encode() output
 *     u32 data_len, data_len bytes of snapshot data
 *   RAFT_TIMEOUT_NOW (6)
 *     u64 term, u64 last_log_index, u64 last_log_term
 *
 * The codec version is bumped for any layout change; a decoder rejects
 * versions it does not know (SL_RPC_EVERSION). server_id and server_address
 * are not encoded: the receiver knows who sent the message. */
#ifndef SL_SERVER_RPC_CODEC_H
#define SL_SERVER_RPC_CODEC_H

#include <raft.h>
#include <stddef.h>
#include <stdint.h>

/* Version of the layout above, written as the first byte of every message. */
#define SL_RPC_CODEC_VERSION 1

/* Size of the fixed header shared by every message type. */
#define SL_RPC_HEADER_BYTES 4

/* Size of one entry header inside an AppendEntries message. */
#define SL_RPC_ENTRY_HEADER_BYTES 16

/* Size of an AppendEntries message without its entries: the header, four u64
 * and n_entries. An AppendEntries of n entries holding b bytes of data takes
 * SL_RPC_APPEND_FIXED_BYTES + n * SL_RPC_ENTRY_HEADER_BYTES + b bytes. */
#define SL_RPC_APPEND_FIXED_BYTES (SL_RPC_HEADER_BYTES + 4 * 8 + 4)

/* Most servers a decoded InstallSnapshot configuration may list. libraft
 * checks each added server against all earlier ones, so this also bounds the
 * decoder's quadratic work. */
#define SL_RPC_CONF_SERVERS_MAX 256

/* Codec error codes, negative. The X-macro feeds the enum, sl_rpc_strerror()
 * and sl_rpc_err_name(). The transport's own codes start at -100 so the two
 * ranges never overlap. */
#define SL_RPC_ERRORS(X)                                                                           \
	X(SL_RPC_EINVAL, -1, "invalid argument (message not encodable)")                           \
	X(SL_RPC_ENOMEM, -2, "out of memory")                                                      \
	X(SL_RPC_ETRUNCATED, -3, "message shorter than its fields")                                \
	X(SL_RPC_EMALFORMED, -4, "malformed message")                                              \
	X(SL_RPC_EVERSION, -5, "unsupported codec version")                                        \
	X(SL_RPC_ETYPE, -6, "unknown message type")                                                \
	X(SL_RPC_ETOOBIG, -7, "a length exceeds its limit")

enum sl_rpc_error {
#define SL_RPC_ERR_ENUM(name, value, text) name = (value),
	SL_RPC_ERRORS(SL_RPC_ERR_ENUM)
#undef SL_RPC_ERR_ENUM
};

/* Returns a static English description of a codec error code, or "unknown
 * error" for a code outside the table. Never returns NULL. */
const char *sl_rpc_strerror(int rv);

/* Returns the static symbolic name of a codec error code ("SL_RPC_ETRUNCATED"),
 * or "SL_RPC_UNKNOWN". Never returns NULL. */
const char *sl_rpc_err_name(int rv);

/* Limits applied while decoding, before anything is allocated. A zero field
 * means "no limit beyond the message length itself". */
struct sl_rpc_limits {
	/* Largest data_len accepted for one AppendEntries entry. */
	size_t entry_bytes_max;
	/* Most entries accepted in one AppendEntries. */
	size_t entries_count_max;
	/* Largest InstallSnapshot data accepted. */
	size_t snapshot_data_bytes_max;
};

/* Computes the exact encoded size of msg without encoding it. For
 * RAFT_INSTALL_SNAPSHOT this encodes the configuration once to learn its size.
 *
 * Returns 0 and stores the size in *size_out, or SL_RPC_EINVAL (bad type, an
 * entry with a bad type or a NULL buffer), SL_RPC_ETOOBIG (a length does not
 * fit its wire field) or SL_RPC_ENOMEM. msg is borrowed for the call. */
int sl_rpc_encoded_size(const struct raft_message *msg, size_t *size_out);

/* Encodes msg into freshly allocated memory.
 *
 * The buffer is allocated with sl_malloc() and starts with headroom_bytes
 * bytes left for the caller (the transport puts its frame header there, so the
 * message is never copied twice); the message itself starts at
 * *buf_out + headroom_bytes. On success *buf_out receives the buffer, whose
 * ownership passes to the caller (free it with sl_free()), and *len_out the
 * total length including the headroom.
 *
 * msg is borrowed for the call: entry buffers, configuration and snapshot data
 * are copied. server_id and server_address are ignored.
 *
 * Returns 0, or the errors of sl_rpc_encoded_size(). On error *buf_out and
 * *len_out are untouched. */
int sl_rpc_encode(const struct raft_message *msg, size_t headroom_bytes, uint8_t **buf_out,
		  size_t *len_out);

/* Encodes msg into the caller's buffer buf of cap bytes, which must be at
 * least the size reported by sl_rpc_encoded_size(). Stores the number of bytes
 * written in *len_out. Returns 0, the errors of sl_rpc_encoded_size(), or
 * SL_RPC_ETOOBIG if cap is too small (nothing useful is written then). */
int sl_rpc_encode_to(const struct raft_message *msg, void *buf, size_t cap, size_t *len_out);

/* Decodes one message of exactly len bytes at buf into *msg.
 *
 * buf is borrowed for the call: everything msg points to afterwards is newly
 * allocated with raft_malloc() (directly, or through
 * raft_configuration_decode()), in the shape libraft expects of a message fed
 * with RAFT_RECEIVE:
 * - AppendEntries with n_entries > 0: `entries` is a raft_malloc()'d array,
 *   and all entries' data live in ONE raft_malloc()'d batch; every
 *   entries[i].batch is that batch and entries[i].buf.base points inside it
 *   (each entry starts 8-byte aligned; a zero-length entry gets a valid
 *   pointer and len 0; the batch exists even if every entry is empty). With
 *   n_entries == 0, `entries` is NULL and nothing is allocated.
 * - InstallSnapshot: `conf` comes from raft_configuration_decode() (after this
 *   codec has checked every length in it, since libraft's decoder trusts its
 *   input) and `data.base` is raft_malloc()'d (NULL when data.len is 0).
 * msg->server_id is set to 0 and msg->server_address to NULL: the caller
 * fills in the sender.
 *
 * Ownership after a successful decode: the caller owns everything. Feeding
 * the message to raft_step(RAFT_RECEIVE) hands the AppendEntries batch and the
 * InstallSnapshot configuration and data to libraft (which frees them, or
 * returns the entries in the update); the AppendEntries `entries` array stays
 * the caller's, to raft_free() once the update that may reference it has been
 * processed (and the batch too if raft_step() failed). A message that is never
 * fed to libraft is released with sl_rpc_message_release().
 *
 * limits may be NULL (no limits beyond len). Returns 0, or SL_RPC_ETRUNCATED,
 * SL_RPC_EMALFORMED, SL_RPC_EVERSION, SL_RPC_ETYPE, SL_RPC_ETOOBIG (a limit in
 * *limits was exceeded) or SL_RPC_ENOMEM. On error nothing is left allocated
 * and *msg is zeroed. Hostile input never reads outside [buf, buf + len). */
int sl_rpc_decode(const void *buf, size_t len, const struct sl_rpc_limits *limits,
		  struct raft_message *msg);

/* Frees everything sl_rpc_decode() allocated for msg (the AppendEntries batch
 * and array, the InstallSnapshot configuration and data) and zeroes *msg.
 * Use it only for a decoded message that was not handed to libraft. */
void sl_rpc_message_release(struct raft_message *msg);

#endif /* SL_SERVER_RPC_CODEC_H */
