/* Private declarations shared by server/http*.c (not for other files). */
#ifndef SD_SERVER_HTTP_INT_H
#define SD_SERVER_HTTP_INT_H

#include "common/sl_common.h"
#include "server/http.h"

/* A parsed request head. */
struct sd_http__parsed {
	size_t head_len;  /* bytes of request line, headers and the blank line */
	size_t body_len;  /* Content-Length, 0 if absent */
	bool keep_alive;  /* what the version and Connection header ask */
	int error_status; /* 0, or the status to answer before closing */
	const char *why;  /* static reason for error_status */
	struct sd_http_request req;
	struct sd_http_header headers[SD_HTTP_HEADERS_MAX];
};

/* Returns the length of the request head in buf[0, len) (through the blank
 * line), or 0 if it is not complete yet. *scanned remembers how far earlier
 * calls looked (start at 0). */
size_t sd_http__head_end(const char *buf, size_t len, size_t *scanned);

/* Parses a complete head of head_len bytes in place (it writes NULs into
 * buf) into *p; p->error_status says whether it is acceptable. */
void sd_http__parse_head(char *buf, size_t head_len, struct sd_http__parsed *p);

/* Finds the route for method and path. Returns it, or NULL with *status set
 * to 404, or to 405 with the allowed methods written into allow. */
const struct sd_http__route *sd_http__route_find(const struct sd_http *h, const char *method,
						 const char *path, char *allow, size_t allow_len,
						 int *status);

#endif /* SD_SERVER_HTTP_INT_H */
