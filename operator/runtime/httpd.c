#include <kf/httpd.h>

#include <stdlib.h>
#include <string.h>

#define SRV_MAX_REQUEST 8192
#define SRV_TIMEOUT_MS 5000

struct srv {
  uv_tcp_t tcp;
  httpd_handler h;
  void *data;
  int port;
};

typedef struct httpd_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  srv *s;
  char buf[SRV_MAX_REQUEST];
  size_t len;
  int responded;
  int closing_handles;
  uv_write_t wr;
  char *out;
} httpd_conn;

static void httpd_conn_handle_closed(uv_handle_t *h) {
  httpd_conn *c = h->data;
  if (--c->closing_handles == 0) {
    free(c->out);
    free(c);
  }
}

static void httpd_conn_close(httpd_conn *c) {
  if (c->closing_handles) return;
  c->closing_handles = 2;
  uv_close((uv_handle_t *)&c->tcp, httpd_conn_handle_closed);
  uv_close((uv_handle_t *)&c->timer, httpd_conn_handle_closed);
}

static void httpd_written(uv_write_t *wr, int status) {
  (void)status;
  httpd_conn_close(wr->data);
}

static void httpd_respond(httpd_conn *c, int status, const char *body) {
  const char *text = status == 200   ? "OK"
                     : status == 404 ? "Not Found"
                     : status == 400 ? "Bad Request"
                                     : "Service Unavailable";
  c->out = kf_asprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                       "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                       status, text, strlen(body), body);
  uv_buf_t b = uv_buf_init(c->out, (unsigned)strlen(c->out));
  c->responded = 1;
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->wr.data = c;
  if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, httpd_written) != 0) httpd_conn_close(c);
}

static void httpd_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  httpd_conn *c = h->data;
  (void)hint;
  *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - 1 - c->len));
}

static void httpd_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  httpd_conn *c = st->data;
  (void)buf;
  if (c->responded) return;
  if (n < 0) {
    httpd_conn_close(c);
    return;
  }
  c->len += (size_t)n;
  c->buf[c->len] = '\0';
  if (!strstr(c->buf, "\r\n\r\n") && !strstr(c->buf, "\n\n")) {
    if (c->len >= sizeof(c->buf) - 1) httpd_respond(c, 400, "request too large\n");
    return;
  }
  char method[8], path[1024];
  if (sscanf(c->buf, "%7s %1023s", method, path) != 2 || strcmp(method, "GET") != 0) {
    httpd_respond(c, 400, "only GET is served\n");
    return;
  }
  char *q = strchr(path, '?');
  if (q) *q = '\0';
  int status = 404;
  char *body = NULL;
  c->s->h(path, &status, &body, c->s->data);
  httpd_respond(c, status, body ? body : "");
  free(body);
}

static void httpd_timeout(uv_timer_t *t) { httpd_conn_close(t->data); }

static void httpd_accept(uv_stream_t *server, int status) {
  srv *s = server->data;
  httpd_conn *c;
  if (status < 0) return;
  c = kf_calloc(1, sizeof(*c));
  c->s = s;
  uv_tcp_init(server->loop, &c->tcp);
  uv_timer_init(server->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    httpd_conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, httpd_timeout, SRV_TIMEOUT_MS, 0);
  uv_read_start((uv_stream_t *)&c->tcp, httpd_alloc, httpd_read);
}

srv *httpd_start(uv_loop_t *loop, const char *addr, httpd_handler h, void *data, kf_error *err) {
  char host[256];
  const char *colon = strrchr(addr, ':');
  struct sockaddr_storage ss;
  int port, rc;
  srv *s;

  if (!colon) {
    kf_error_set(err, -EINVAL, "bind address %s: expected host:port", addr);
    return NULL;
  }
  port = atoi(colon + 1);
  size_t hl = (size_t)(colon - addr);
  if (hl >= sizeof(host)) hl = sizeof(host) - 1;
  memcpy(host, addr, hl);
  host[hl] = '\0';
  if (host[0] == '[') { /* [::1]:8080 */
    memmove(host, host + 1, strlen(host));
    char *rb = strchr(host, ']');
    if (rb) *rb = '\0';
  }
  if (!host[0]) strcpy(host, "0.0.0.0");
  if (strchr(host, ':')) rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
  else rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
  if (rc != 0) {
    kf_error_set(err, rc, "bind address %s: %s", addr, uv_strerror(rc));
    return NULL;
  }
  s = kf_calloc(1, sizeof(*s));
  s->h = h;
  s->data = data;
  uv_tcp_init(loop, &s->tcp);
  s->tcp.data = s;
  if ((rc = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0)) != 0 ||
      (rc = uv_listen((uv_stream_t *)&s->tcp, 64, httpd_accept)) != 0) {
    kf_error_set(err, rc, "listen on %s: %s", addr, uv_strerror(rc));
    httpd_close(s);
    return NULL;
  }
  int len = sizeof(ss);
  uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len);
  s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
  return s;
}

int httpd_port(const srv *s) { return s->port; }

static void httpd_closed(uv_handle_t *h) { free(h->data); }

void httpd_close(srv *s) {
  if (s) uv_close((uv_handle_t *)&s->tcp, httpd_closed);
}
