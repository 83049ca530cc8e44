/* HTTP/1.1 request parsing (request line, headers, Content-Length,
 * Connection), routing, query strings and response helpers. Pure functions
 * over buffers: no I/O, so hostile input is easy to test. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server/http_int.h"

const char *sd_http_strerror(int err)
{
	if (err == 0) {
		return "success";
	}
	switch (err) {
#define SD_HTTP_ERR_MSG(name, value, text)                                                         \
	case (value):                                                                              \
		return (text);
		SD_HTTP_ERRORS(SD_HTTP_ERR_MSG)
#undef SD_HTTP_ERR_MSG
	default:
		return "unknown error";
	}
}

const char *sd_http_err_name(int err)
{
	if (err == 0) {
		return "0";
	}
	switch (err) {
#define SD_HTTP_ERR_NAME(name, value, text)                                                        \
	case (value):                                                                              \
		return #name;
		SD_HTTP_ERRORS(SD_HTTP_ERR_NAME)
#undef SD_HTTP_ERR_NAME
	default:
		return "SD_HTTP_UNKNOWN";
	}
}

const char *sd_http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

/* ---- head parsing ----------------------------------------------------------- */

/* RFC 9110 tchar. */
static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(const char *s)
{
	if (*s == '\0') {
		return false;
	}
	for (; *s != '\0'; s++) {
		if (!is_tchar(*s)) {
			return false;
		}
	}
	return true;
}

size_t sd_http__head_end(const char *buf, size_t len, size_t *scanned)
{
	size_t i = *scanned > 2 ? *scanned - 2 : 0;
	for (; i < len; i++) {
		if (buf[i] != '\n') {
			continue;
		}
		if (i + 1 < len && buf[i + 1] == '\n') {
			return i + 2;
		}
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
			return i + 3;
		}
	}
	*scanned = len;
	return 0;
}

static void reject(struct sd_http__parsed *p, int status, const char *why)
{
	if (p->error_status == 0) {
		p->error_status = status;
		p->why = why;
	}
}

/* Cuts the next line out of [*pos, end): NUL-terminates it (dropping a CR
 * before the LF) and returns it; NULL at end. Rejects stray CR and NUL. */
static char *next_line(char **pos, char *end, struct sd_http__parsed *p)
{
	if (*pos >= end) {
		return NULL;
	}
	char *line = *pos;
	char *lf = memchr(line, '\n', (size_t)(end - line));
	char *stop = lf != NULL ? lf : end;
	*pos = lf != NULL ? lf + 1 : end;
	if (stop > line && stop[-1] == '\r') {
		stop--;
	}
	if (memchr(line, '\r', (size_t)(stop - line)) != NULL ||
	    memchr(line, '\0', (size_t)(stop - line)) != NULL) {
		reject(p, 400, "stray CR or NUL in the request head");
	}
	*stop = '\0';
	return line;
}

static void parse_request_line(char *line, struct sd_http__parsed *p)
{
	char *sp1 = strchr(line, ' ');
	char *sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' ') != NULL) {
		reject(p, 400, "malformed request line");
		return;
	}
	*sp1 = '\0';
	*sp2 = '\0';
	char *target = sp1 + 1, *version = sp2 + 1;
	if (!is_token(line) || strlen(line) > SD_HTTP_METHOD_BYTES_MAX) {
		reject(p, 400, "malformed method");
		return;
	}
	if (strncmp(version, "HTTP/", 5) != 0 || strlen(version) != 8 || version[6] != '.' ||
	    version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
		reject(p, 400, "malformed HTTP version");
		return;
	}
	if (version[5] != '1' || version[7] > '1') {
		reject(p, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
		return;
	}
	for (const char *c = target; *c != '\0'; c++) {
		if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
			reject(p, 400, "control character in the request target");
			return;
		}
	}
	if (target[0] != '/') {
		reject(p, 400, "the request target must start with '/'");
		return;
	}
	char *q = strchr(target, '?');
	p->req.query = "";
	if (q != NULL) {
		*q = '\0';
		p->req.query = q + 1;
	}
	p->req.method = line;
	p->req.path = target;
	p->req.minor_version = version[7] - '0';
}

/* Applies Connection tokens ("close", "keep-alive", comma-separated). */
static void connection_tokens(const char *v, bool *saw_close, bool *saw_keep)
{
	while (*v != '\0') {
		while (*v == ' ' || *v == '\t' || *v == ',') {
			v++;
		}
		size_t n = strcspn(v, " \t,");
		if (n == 5 && strncasecmp(v, "close", 5) == 0) {
			*saw_close = true;
		} else if (n == 10 && strncasecmp(v, "keep-alive", 10) == 0) {
			*saw_keep = true;
		}
		v += n;
	}
}

static void content_length(const char *v, bool *seen, struct sd_http__parsed *p)
{
	size_t n = strlen(v);
	uint64_t x = 0;
	bool ok = n >= 1 && n <= 18 && strspn(v, "0123456789") == n;
	for (size_t i = 0; ok && i < n; i++) {
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (!ok || (*seen && x != p->body_len)) {
		reject(p, 400, "invalid Content-Length");
		return;
	}
	*seen = true;
	p->body_len = (size_t)x;
}

/* Parses one header line into p->headers and the fields it controls. */
static void parse_header(char *line, struct sd_http__parsed *p, bool *cl_seen, bool *saw_close,
			 bool *saw_keep)
{
	if (line[0] == ' ' || line[0] == '\t') {
		reject(p, 400, "folded header lines are not accepted");
		return;
	}
	char *colon = strchr(line, ':');
	if (colon == NULL) {
		reject(p, 400, "header line without ':'");
		return;
	}
	*colon = '\0';
	if (!is_token(line)) {
		reject(p, 400, "malformed header name");
		return;
	}
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t') {
		v++;
	}
	char *e = v + strlen(v);
	while (e > v && (e[-1] == ' ' || e[-1] == '\t')) {
		*--e = '\0';
	}
	for (const char *c = v; *c != '\0'; c++) {
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f) {
			reject(p, 400, "control character in a header value");
			return;
		}
	}
	if (p->req.n_headers == SD_HTTP_HEADERS_MAX) {
		reject(p, 431, "too many headers");
		return;
	}
	p->headers[p->req.n_headers++] = (struct sd_http_header){line, v};
	if (strcasecmp(line, "Content-Length") == 0) {
		content_length(v, cl_seen, p);
	} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
		reject(p, 501, "Transfer-Encoding in requests is not supported");
	} else if (strcasecmp(line, "Connection") == 0) {
		connection_tokens(v, saw_close, saw_keep);
	}
}

void sd_http__parse_head(char *buf, size_t head_len, struct sd_http__parsed *p)
{
	memset(p, 0, sizeof(*p));
	p->head_len = head_len;
	p->req.headers = p->headers;
	char *pos = buf, *end = buf + head_len;
	char *line = next_line(&pos, end, p);
	if (line == NULL) {
		reject(p, 400, "empty request");
		return;
	}
	parse_request_line(line, p);
	bool cl_seen = false, saw_close = false, saw_keep = false;
	while (p->error_status == 0 && (line = next_line(&pos, end, p)) != NULL) {
		if (line[0] == '\0') {
			break;
		}
		parse_header(line, p, &cl_seen, &saw_close, &saw_keep);
	}
	p->keep_alive = p->req.minor_version == 1 ? !saw_close : saw_keep && !saw_close;
}

const char *sd_http_request_header(const struct sd_http_request *req, const char *name)
{
	for (int i = 0; i < req->n_headers; i++) {
		if (strcasecmp(req->headers[i].name, name) == 0) {
			return req->headers[i].value;
		}
	}
	return NULL;
}

/* ---- routing ---------------------------------------------------------------- */

static bool prefix_matches(const struct sd_http__route *r, const char *path)
{
	if (strncmp(path, r->prefix, r->prefix_len) != 0) {
		return false;
	}
	char next = path[r->prefix_len];
	return next == '\0' || next == '/' || r->prefix[r->prefix_len - 1] == '/';
}

static bool method_matches(const struct sd_http__route *r, const char *method)
{
	return strcmp(r->method, method) == 0 ||
	       (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
}

const struct sd_http__route *sd_http__route_find(const struct sd_http *h, const char *method,
						 const char *path, char *allow, size_t allow_len,
						 int *status)
{
	size_t best = 0;
	bool any = false;
	for (int i = 0; i < h->n_routes; i++) {
		if (prefix_matches(&h->routes[i], path) && h->routes[i].prefix_len >= best) {
			best = h->routes[i].prefix_len;
			any = true;
		}
	}
	*status = 404;
	allow[0] = '\0';
	if (!any) {
		return NULL;
	}
	size_t used = 0;
	for (int i = 0; i < h->n_routes; i++) {
		const struct sd_http__route *r = &h->routes[i];
		if (r->prefix_len != best || !prefix_matches(r, path)) {
			continue;
		}
		if (method_matches(r, method)) {
			*status = 200;
			return r;
		}
		int n = snprintf(allow + used, allow_len - used, "%s%s%s", used > 0 ? ", " : "",
				 r->method, strcmp(r->method, "GET") == 0 ? ", HEAD" : "");
		if (n > 0 && (size_t)n < allow_len - used) {
			used += (size_t)n;
		}
	}
	*status = 405;
	return NULL;
}

/* ---- query strings ---------------------------------------------------------- */

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* Percent-decodes [b, e) into out (cap bytes, NUL added). Returns the length
 * or an SD_HTTP_* error. */
static int decode(const char *b, const char *e, char *out, size_t cap)
{
	size_t o = 0;
	while (b < e) {
		char c = *b++;
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi = b + 1 < e ? hexval(b[0]) : -1;
			int lo = b + 1 < e ? hexval(b[1]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				return SD_HTTP_ESYNTAX;
			}
			c = (char)(hi * 16 + lo);
			b += 2;
		}
		if (o + 1 >= cap) {
			return SD_HTTP_ETOOBIG;
		}
		out[o++] = c;
	}
	if (cap > 0) {
		out[o] = '\0';
	}
	return (int)o;
}

int sd_http_query_get(const char *query, const char *key, char *buf, size_t len)
{
	SL_ASSERT(query != NULL && key != NULL && buf != NULL && len > 0);
	const char *p = query;
	while (*p != '\0') {
		const char *amp = strchr(p, '&');
		const char *end = amp != NULL ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		const char *kend = eq != NULL ? eq : end;
		char name[256];
		int n = decode(p, kend, name, sizeof(name));
		if (n >= 0 && strcmp(name, key) == 0) {
			return eq != NULL ? decode(eq + 1, end, buf, len)
					  : decode(end, end, buf, len);
		}
		p = amp != NULL ? amp + 1 : end;
	}
	return SD_HTTP_ENOENT;
}

/* ---- responses ---------------------------------------------------------------- */

void sd_http_response_type(struct sd_http_response *resp, const char *content_type)
{
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", content_type);
	for (char *p = resp->content_type; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*p = ' '; /* never let a handler split the response head */
		}
	}
}

int sd_http_response_header(struct sd_http_response *resp, const char *name, const char *value)
{
	if (name == NULL || value == NULL || !is_token(name) || strpbrk(value, "\r\n") != NULL) {
		return SD_HTTP_EINVAL;
	}
	size_t need = strlen(name) + 2 + strlen(value) + 2;
	if (need > sizeof(resp->headers) - 1 - resp->headers_len) {
		return SD_HTTP_ETOOBIG;
	}
	resp->headers_len +=
	    (size_t)snprintf(resp->headers + resp->headers_len,
			     sizeof(resp->headers) - resp->headers_len, "%s: %s\r\n", name, value);
	return 0;
}

void sd_http_response_error(struct sd_http_response *resp, int status, const char *message)
{
	resp->status = status;
	sd_http_response_type(resp, "text/plain; charset=utf-8");
	sd_buf_reset(&resp->body);
	sd_buf_printf(&resp->body, "%d %s: %s\n", status, sd_http_reason(status),
		      message != NULL ? message : "");
}
