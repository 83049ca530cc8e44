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

#endif /* KP_PROTO_INT_H */
