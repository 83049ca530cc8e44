/* proto: internal declarations shared by the record-layer files (not for other modules). */
#ifndef KP_PROTO_INT_H
#define KP_PROTO_INT_H

#include <stddef.h>
#include <stdint.h>

/* Like kp_lz4_compress, but leaves headroom bytes (uninitialised) before the
 * frame in *out, so the batch builder can write its header in front without
 * a copy. *out_len counts the headroom too. */
int kp__lz4_compress(const uint8_t *src, size_t len, size_t headroom, uint8_t **out,
		     size_t *out_len);

/* Header fields not named in proto.h. */
#define KP__OFF_BATCH_LENGTH	  8
#define KP__OFF_LAST_OFFSET_DELTA 23
#define KP__OFF_BASE_TIMESTAMP	  27
#define KP__OFF_MAX_TIMESTAMP	  35
#define KP__OFF_PRODUCER_ID	  43
#define KP__OFF_PRODUCER_EPOCH	  51
#define KP__OFF_BASE_SEQUENCE	  53
#define KP__OFF_RECORDS_COUNT	  57

struct kp_batch_header;

/* Writes every header field of h into buf[0..len) (a whole batch: header
 * then records section) except batchLength, which is len - 12, and the CRC,
 * which is computed over the bytes that follow it. */
void kp__batch_write_header(uint8_t *buf, size_t len, const struct kp_batch_header *h);

#endif /* KP_PROTO_INT_H */
