/* httpd: a tiny HTTP/1.x server on the loop for /healthz, /readyz and /metrics.
 *
 * One response per connection (Connection: close); requests are bounded to
 * 8 KiB of headers and 5 s, so a slow or hostile client cannot hold memory. */
#ifndef KF_HTTPD_H
#define KF_HTTPD_H

#include <uv.h>

#include <kf/error.h>

typedef struct srv srv;

/* Fills *status and *body (malloc'd) for path; content type is text/plain. */
typedef void (*httpd_handler)(const char *path, int *status, char **body, void *data);

/* addr is "host:port" (e.g. "127.0.0.1:8081", ":8081" for all interfaces, port 0 for any). */
srv *httpd_start(uv_loop_t *loop, const char *addr, httpd_handler h, void *data, kf_error *err);
/* The bound port (useful with port 0). */
int httpd_port(const srv *s);
void httpd_close(srv *s);

#endif
