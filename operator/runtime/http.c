#include <kf/http.h>

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include <kf/error.h>

#define HTTP_DEFAULT_MAX_BODY (64u << 20)
#define HTTP_DEFAULT_CONNECT_MS 10000
#define HTTP_DEADLINE_GRACE_MS 2000
#define HTTP_DEADLINE_SWEEP_MS 1000

/* One curl multi handle and its timer: a connection cache. The engine has one (main) that every
 * request uses by default; a client that must not share connections gets its own. */
struct http_pool {
  http_engine *eng;
  CURLM *multi;
  uv_timer_t timer; /* curl's timeout for this multi */
  http_pool *prev, *next;
  size_t requests; /* live requests started on it */
  int released;    /* its owner called http_pool_close (never for the engine's main pool) */
  int in_cleanup;  /* inside curl_multi_cleanup: the multi handle must not be touched */
  int shut;        /* multi cleaned up, timer closing or closed */
  int timer_open;
};

struct http_engine {
  uv_loop_t *loop;
  http_pool main;            /* the shared pool */
  http_pool *pools;          /* every pool, main included (doubly linked) */
  uv_timer_t defer_timer;    /* completes cancelled requests outside the caller's stack */
  uv_timer_t deadline_timer; /* enforces request deadlines even if curl's own timer stalls */
  http_request *requests;    /* all live requests (doubly linked) */
  http_request *deferred;    /* cancelled, waiting for on_done */
  size_t inflight;
  char *user_agent; /* the program's name/version; NULL: none sent */
  int closing;
  int open_handles; /* uv handles not yet closed, for http_engine_close */
};

struct http_request {
  http_engine *eng;
  http_pool *pool;
  CURL *easy;
  http_request *prev, *next;
  http_request *next_deferred;
  struct curl_slist *headers;
  char *body_in; /* request body copy; wiped on free */
  size_t body_in_len;
  char *auth_header; /* wiped on free */
  char *body;        /* buffered response body; wiped on free */
  size_t body_len, body_cap, max_body;
  long retry_after_s;
  http_data_cb on_data;
  http_done_cb on_done;
  void *data;
  int cancelled;
  int timed_out;        /* cancelled by the deadline sweep */
  uint64_t deadline_ms; /* loop time after which the request is abandoned; 0: none */
  int in_multi;
  int in_write; /* inside on_data: curl forbids removing the handle now */
  int too_large;
  char errbuf[CURL_ERROR_SIZE];
};

typedef struct http_socket {
  uv_poll_t poll;
  curl_socket_t fd;
  http_pool *pool;
  http_engine *eng;
} http_socket;

static void http_check_done(http_pool *pool);

static void http_global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static void http_engine_free(http_engine *eng) {
  free(eng->user_agent);
  free(eng);
}

static void http_handle_closed(uv_handle_t *h) {
  http_engine *eng = h->data;
  if (--eng->open_handles == 0 && eng->closing) http_engine_free(eng);
}

/* A pool's timer is closed: the engine has one handle less; a pool of its own is freed once its
 * owner has let go of it too (http_pool_close). */
static void http_pool_timer_closed(uv_handle_t *h) {
  http_pool *pool = h->data;
  http_engine *eng = pool->eng;
  pool->timer_open = 0;
  if (pool != &eng->main && pool->released) free(pool);
  if (--eng->open_handles == 0 && eng->closing) http_engine_free(eng);
}

static void http_socket_closed(uv_handle_t *h) {
  http_socket *s = h->data;
  http_engine *eng = s->eng;
  free(s);
  if (--eng->open_handles == 0 && eng->closing) http_engine_free(eng);
}

static void http_poll_cb(uv_poll_t *p, int status, int events) {
  http_socket *s = p->data;
  http_pool *pool = s->pool;
  int running = 0, flags = 0;
  if (!pool->multi) return;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  curl_multi_socket_action(pool->multi, s->fd, flags, &running);
  http_check_done(pool);
}

static int http_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  http_pool *pool = userp;
  http_engine *eng = pool->eng;
  http_socket *s = socketp;
  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      uv_poll_stop(&s->poll);
      if (!pool->in_cleanup) curl_multi_assign(pool->multi, fd, NULL);
      uv_close((uv_handle_t *)&s->poll, http_socket_closed);
    }
    return 0;
  }
  if (!s) {
    s = kf_calloc(1, sizeof(*s));
    s->fd = fd;
    s->pool = pool;
    s->eng = eng;
    if (uv_poll_init_socket(eng->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->poll.data = s;
    eng->open_handles++;
    curl_multi_assign(pool->multi, fd, s);
  }
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  uv_poll_start(&s->poll, events, http_poll_cb);
  return 0;
}

static void http_timer_cb(uv_timer_t *t) {
  http_pool *pool = t->data;
  int running = 0;
  if (!pool->multi) return;
  curl_multi_socket_action(pool->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  http_check_done(pool);
}

static int http_timer_fn(CURLM *multi, long timeout_ms, void *userp) {
  http_pool *pool = userp;
  (void)multi;
  /* 0 ("act now") becomes 1 ms, as in curl's multi-uv example: libuv (< 1.45) runs a timer
   * started with 0 from a timer callback again in the same timer phase, and curl asks for 0
   * whenever a request is added, so with requests completing and new ones added from their
   * callbacks the loop stayed in its timer phase for seconds (36 s seen with 100 members):
   * no poll, so no signal handling (SIGTERM), health probes or new connections meanwhile. */
  if (timeout_ms < 0) uv_timer_stop(&pool->timer);
  else uv_timer_start(&pool->timer, http_timer_cb, timeout_ms > 0 ? (uint64_t)timeout_ms : 1, 0);
  return 0;
}

static void http_defer_cb(uv_timer_t *t);

static void http_request_free(http_request *req) {
  http_engine *eng = req->eng;
  if (req->prev) req->prev->next = req->next;
  else eng->requests = req->next;
  if (req->next) req->next->prev = req->prev;
  eng->inflight--;
  /* A released pool's last request: it closes from the loop (we may be inside its multi now). */
  if (--req->pool->requests == 0 && req->pool->released) uv_timer_start(&eng->defer_timer, http_defer_cb, 0, 0);
  if (req->easy) curl_easy_cleanup(req->easy);
  curl_slist_free_all(req->headers);
  if (req->auth_header) kf_free_secret(req->auth_header, strlen(req->auth_header));
  /* Bodies carry Secrets both ways (applies of F-ca and the credential Secrets, reads and lists
   * of Secrets): wipe them, one pass over bytes that just crossed the network anyway. */
  if (req->body_in) kf_free_secret(req->body_in, req->body_in_len + 1);
  if (req->body) kf_free_secret(req->body, req->body_cap);
  free(req);
}

static void http_finish(http_request *req, CURLcode code) {
  http_response res;
  memset(&res, 0, sizeof(res));
  res.retry_after_s = req->retry_after_s;
  res.curl_code = (int)code;
  if (req->easy) curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &res.status);
  if (req->timed_out) {
    res.curl_code = CURLE_OPERATION_TIMEDOUT;
    snprintf(res.error, sizeof(res.error), "no response within the request deadline");
  } else if (req->too_large) {
    res.curl_code = CURLE_FILESIZE_EXCEEDED;
    snprintf(res.error, sizeof(res.error), "response body larger than %zu bytes", req->max_body);
  } else if (code != CURLE_OK) {
    snprintf(res.error, sizeof(res.error), "%s", req->errbuf[0] ? req->errbuf : curl_easy_strerror(code));
    size_t n = strlen(res.error);
    while (n && (res.error[n - 1] == '\n' || res.error[n - 1] == '\r')) res.error[--n] = '\0';
  }
  if (!req->on_data) {
    res.body = req->body ? req->body : "";
    res.body_len = req->body_len;
  }
  req->on_done(req, &res, req->data);
  http_request_free(req);
}

static void http_check_done(http_pool *pool) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(pool->multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    http_request *req = NULL;
    CURL *easy = msg->easy_handle;
    CURLcode code = msg->data.result;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&req);
    curl_multi_remove_handle(pool->multi, easy);
    req->in_multi = 0;
    if (req->cancelled && code == CURLE_WRITE_ERROR) code = CURLE_ABORTED_BY_CALLBACK;
    http_finish(req, code);
  }
}

static size_t http_header_cb(char *buf, size_t size, size_t n, void *userp) {
  http_request *req = userp;
  size_t len = size * n;
  static const char name[] = "retry-after:";
  if (len > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
    char tmp[32];
    size_t vlen = len - (sizeof(name) - 1);
    if (vlen >= sizeof(tmp)) vlen = sizeof(tmp) - 1;
    memcpy(tmp, buf + sizeof(name) - 1, vlen);
    tmp[vlen] = '\0';
    char *end;
    long v = strtol(tmp, &end, 10);
    /* An HTTP-date form is not used by kube-apiserver; treat it as 1 s. */
    req->retry_after_s = (end != tmp && v >= 0) ? v : 1;
  } else if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
    req->retry_after_s = -1; /* a new response (e.g. after 100-continue) */
  }
  return len;
}

static size_t http_write_cb(char *buf, size_t size, size_t n, void *userp) {
  http_request *req = userp;
  size_t len = size * n;
  long status = 0;
  if (req->cancelled) return 0;
  curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
  if (req->on_data && status >= 200 && status < 300) {
    int rc;
    req->in_write = 1;
    rc = req->on_data(req, buf, len, req->data);
    req->in_write = 0;
    if (rc != 0) return 0;
    return req->cancelled ? 0 : len;
  }
  if (req->body_len + len > req->max_body) {
    req->too_large = 1;
    return 0;
  }
  kf_grow_wiped(&req->body, req->body_len, &req->body_cap, len); /* wiped: bodies carry Secrets */
  memcpy(req->body + req->body_len, buf, len);
  req->body_len += len;
  req->body[req->body_len] = '\0';
  return len;
}

/* maxconnects: connections the pool keeps (in use or idle) across all hosts. */
static int http_pool_init(http_engine *eng, http_pool *pool, long maxconnects) {
  pool->eng = eng;
  pool->multi = curl_multi_init();
  if (!pool->multi) return -ENOMEM;
  curl_multi_setopt(pool->multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb);
  curl_multi_setopt(pool->multi, CURLMOPT_SOCKETDATA, pool);
  curl_multi_setopt(pool->multi, CURLMOPT_TIMERFUNCTION, http_timer_fn);
  curl_multi_setopt(pool->multi, CURLMOPT_TIMERDATA, pool);
  curl_multi_setopt(pool->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  /* Bounded pool; HTTP/2 multiplexes many requests over each connection (with PIPEWAIT a new
   * request waits for the first connection to a host rather than opening a second). A server that
   * speaks only HTTP/1.1 (a member behind such a proxy) takes one connection per watch: the
   * controller manager watches 11 kinds in each member, and with 8 connections per host its
   * requests to that member queued behind the watches until they timed out (propagation.faults,
   * whose fault proxy speaks HTTP/1.1). 32 leaves room for the watches and the requests. */
  curl_multi_setopt(pool->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 32L);
  curl_multi_setopt(pool->multi, CURLMOPT_MAXCONNECTS, maxconnects);
  uv_timer_init(eng->loop, &pool->timer);
  pool->timer.data = pool;
  pool->timer_open = 1;
  eng->open_handles++;
  pool->next = eng->pools;
  if (eng->pools) eng->pools->prev = pool;
  eng->pools = pool;
  return 0;
}

/* Closes the pool's connections (their uv_poll handles close via http_socket_cb) and its timer.
 * Never from inside the pool's own curl callbacks. */
static void http_pool_shutdown(http_pool *pool) {
  http_engine *eng = pool->eng;
  if (pool->shut) return;
  pool->shut = 1;
  if (pool->prev) pool->prev->next = pool->next;
  else eng->pools = pool->next;
  if (pool->next) pool->next->prev = pool->prev;
  pool->in_cleanup = 1;
  curl_multi_cleanup(pool->multi);
  pool->multi = NULL;
  uv_timer_stop(&pool->timer);
  uv_close((uv_handle_t *)&pool->timer, http_pool_timer_closed);
}

http_engine *http_engine_new(uv_loop_t *loop, kf_error *err) {
  static uv_once_t once = UV_ONCE_INIT;
  http_engine *eng;

  uv_once(&once, http_global_init);
  eng = kf_calloc(1, sizeof(*eng));
  eng->loop = loop;
  if (http_pool_init(eng, &eng->main, 64L) != 0) {
    free(eng);
    kf_error_set(err, -ENOMEM, "curl_multi_init failed");
    return NULL;
  }
  uv_timer_init(loop, &eng->defer_timer);
  uv_timer_init(loop, &eng->deadline_timer);
  eng->defer_timer.data = eng;
  eng->deadline_timer.data = eng;
  eng->open_handles += 2;
  return eng;
}

http_pool *http_pool_new(http_engine *eng, kf_error *err) {
  if (eng->closing) {
    kf_error_set(err, -ESHUTDOWN, "http engine is shutting down");
    return NULL;
  }
  http_pool *pool = kf_calloc(1, sizeof(*pool));
  /* A pool of its own serves one client, i.e. one server: a connection or two. */
  if (http_pool_init(eng, pool, 4L) != 0) {
    free(pool);
    kf_error_set(err, -ENOMEM, "curl_multi_init failed");
    return NULL;
  }
  return pool;
}

void http_pool_close(http_pool *pool) {
  if (!pool || pool->released) return;
  pool->released = 1;
  if (pool->shut) { /* the engine closed it already; the timer's close callback frees it if pending */
    if (!pool->timer_open) free(pool);
    return;
  }
  /* Requests still on it (a watch being cancelled) finish first; then http_defer_cb closes it,
   * from the loop: this may run inside one of the pool's own callbacks. */
  if (!pool->requests) uv_timer_start(&pool->eng->defer_timer, http_defer_cb, 0, 0);
}

void http_engine_set_user_agent(http_engine *eng, const char *user_agent) {
  free(eng->user_agent);
  eng->user_agent = user_agent ? kf_strdup(user_agent) : NULL;
}

/* Takes a request out of curl and queues its completion for http_defer_cb.
 * Not from inside the request's own curl callbacks: curl forbids removing it there. */
static void http_detach(http_request *req) {
  http_engine *eng = req->eng;
  req->cancelled = 1;
  if (req->in_multi) {
    curl_multi_remove_handle(req->pool->multi, req->easy);
    req->in_multi = 0;
  }
  req->next_deferred = eng->deferred;
  eng->deferred = req;
}

static void http_deadline_cb(uv_timer_t *t) {
  http_engine *eng = t->data;
  uint64_t now = uv_now(eng->loop);
  int armed = 0;
  for (http_request *r = eng->requests; r; r = r->next) {
    if (!r->deadline_ms || r->cancelled) continue;
    if (now < r->deadline_ms) {
      armed = 1;
      continue;
    }
    r->timed_out = 1;
    http_detach(r);
    uv_timer_start(&eng->defer_timer, http_defer_cb, 0, 0);
  }
  if (!armed) uv_timer_stop(t);
}

static void http_set_blob(CURL *easy, CURLoption opt, const char *pem, size_t len) {
  struct curl_blob blob;
  blob.data = (void *)pem;
  blob.len = len;
  blob.flags = CURL_BLOB_COPY;
  curl_easy_setopt(easy, opt, &blob);
}

int http_request_start(http_engine *eng, const http_request_opts *o, http_request **out, kf_error *err) {
  http_request *req;
  CURL *easy;

  if (out) *out = NULL;
  if (!o || !o->url || !o->method || !o->on_done)
    return kf_error_set(err, -EINVAL, "http request needs url, method and on_done");
  if (eng->closing) return kf_error_set(err, -ESHUTDOWN, "http engine is shutting down");
  http_pool *pool = o->pool ? o->pool : &eng->main;
  if (pool->released || pool->shut) return kf_error_set(err, -ESHUTDOWN, "http pool is closed");
  int plain = o->allow_http && strncmp(o->url, "http://", 7) == 0;
  if (strncmp(o->url, "https://", 8) != 0 && !plain)
    return kf_error_set(err, -EPROTONOSUPPORT, "refusing non-https URL (TLS is always verified)");

  easy = curl_easy_init();
  if (!easy) return kf_error_set(err, -ENOMEM, "curl_easy_init failed");
  req = kf_calloc(1, sizeof(*req));
  req->eng = eng;
  req->pool = pool;
  pool->requests++;
  req->easy = easy;
  req->on_data = o->on_data;
  req->on_done = o->on_done;
  req->data = o->data;
  req->retry_after_s = -1;
  req->max_body = o->max_body ? o->max_body : HTTP_DEFAULT_MAX_BODY;

  curl_easy_setopt(easy, CURLOPT_URL, o->url);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, req);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->errbuf);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  /* The protocol the URL was checked for and no other (a redirect could not switch either way). */
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, plain ? "http" : "https");
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
  if (o->fresh_connect) curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  /* Compressed bodies for lists and reads only. kube-apiserver (1.37) gzips a watch stream too when
   * asked, flushing per event, and libcurl 7.88's decoder fails the transfer with a write error at
   * the second event: every watch would end after one event and come back after a backoff. */
  if (!o->on_data) curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  if (eng->user_agent) curl_easy_setopt(easy, CURLOPT_USERAGENT, eng->user_agent);
  /* Streams keep curl's receive buffer (16 KiB): libcurl 7.88 pauses an HTTP/2 stream whose DATA
   * frame (up to 16 KiB) does not fit it and resumes it only when more bytes arrive on the
   * connection, so a smaller buffer held a watch event larger than it (a token Secret, 3 KiB, with
   * 1 KiB) until the next bookmark or probe: tens of seconds on a quiet member connection. Only
   * the pages written are resident, so a watch of small events costs about one. */
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, http_write_cb);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, http_header_cb);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, req);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   (long)(o->connect_timeout_ms ? o->connect_timeout_ms : HTTP_DEFAULT_CONNECT_MS));
  if (o->timeout_ms) {
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    /* Our own backstop, a little after curl's: a transfer that curl 7.88 leaves
     * pending or stalled on a multiplexed connection still ends. */
    req->deadline_ms = uv_now(eng->loop) + o->timeout_ms + HTTP_DEADLINE_GRACE_MS;
    if (!uv_is_active((uv_handle_t *)&eng->deadline_timer))
      uv_timer_start(&eng->deadline_timer, http_deadline_cb, HTTP_DEADLINE_SWEEP_MS, HTTP_DEADLINE_SWEEP_MS);
  }
  if (o->stall_timeout_ms) {
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, (long)((o->stall_timeout_ms + 999) / 1000));
  }
  if (o->tls) {
    if (o->tls->ca_pem) http_set_blob(easy, CURLOPT_CAINFO_BLOB, o->tls->ca_pem, o->tls->ca_pem_len);
    if (o->tls->cert_pem) {
      http_set_blob(easy, CURLOPT_SSLCERT_BLOB, o->tls->cert_pem, o->tls->cert_pem_len);
      curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (o->tls->key_pem) {
      http_set_blob(easy, CURLOPT_SSLKEY_BLOB, o->tls->key_pem, o->tls->key_pem_len);
      curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
    }
  }
  if (strcmp(o->method, "GET") != 0) curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, o->method);
  if (o->body) {
    req->body_in = kf_calloc(1, o->body_len + 1);
    req->body_in_len = o->body_len;
    memcpy(req->body_in, o->body, o->body_len);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body_in);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
  }
  req->headers = curl_slist_append(NULL, "Accept: application/json");
  req->headers = curl_slist_append(req->headers, "Expect:");
  for (const char *const *h = o->headers; h && *h; h++) req->headers = curl_slist_append(req->headers, *h);
  if (o->bearer_token) {
    req->auth_header = kf_asprintf("Authorization: Bearer %s", o->bearer_token);
    req->headers = curl_slist_append(req->headers, req->auth_header);
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers);

  req->next = eng->requests;
  if (eng->requests) eng->requests->prev = req;
  eng->requests = req;
  eng->inflight++;

  if (curl_multi_add_handle(pool->multi, easy) != CURLM_OK) {
    http_request_free(req);
    return kf_error_set(err, -EIO, "curl_multi_add_handle failed");
  }
  req->in_multi = 1;
  if (out) *out = req;
  return 0;
}

static void http_defer_cb(uv_timer_t *t) {
  http_engine *eng = t->data;
  http_request *list = eng->deferred;
  eng->deferred = NULL;
  while (list) {
    http_request *req = list;
    list = req->next_deferred;
    http_finish(req, req->timed_out ? CURLE_OPERATION_TIMEDOUT : CURLE_ABORTED_BY_CALLBACK);
  }
  /* Pools their owners let go of, once their last request has ended. */
  for (http_pool *pool = eng->pools, *next; pool; pool = next) {
    next = pool->next;
    if (pool->released && !pool->requests) http_pool_shutdown(pool);
  }
}

void http_request_cancel(http_request *req) {
  if (!req || req->cancelled) return;
  if (!req->in_multi || req->in_write) {
    /* Inside its own write callback (which sees `cancelled` and aborts), or
     * already out of curl and completing: nothing to detach. */
    req->cancelled = 1;
    return;
  }
  /* Completion is reported from the loop, never from the caller's stack. */
  http_detach(req);
  uv_timer_start(&req->eng->defer_timer, http_defer_cb, 0, 0);
}

uv_loop_t *http_engine_loop(const http_engine *eng) { return eng->loop; }

size_t http_engine_inflight(const http_engine *eng) { return eng->inflight; }

void http_engine_close(http_engine *eng) {
  if (!eng || eng->closing) return;
  /* Set first: a completion callback below must not be able to start a new request. */
  eng->closing = 1;
  for (http_request *r = eng->requests; r; r = r->next)
    if (!r->cancelled) http_detach(r);
  /* Complete them now: callers get their on_done before the engine goes away. */
  http_defer_cb(&eng->defer_timer);
  /* Closes every pool's connections, the main pool's and those whose owners still hold them
   * (their http_pool_close then only frees them). */
  while (eng->pools) http_pool_shutdown(eng->pools);
  uv_timer_stop(&eng->defer_timer);
  uv_timer_stop(&eng->deadline_timer);
  uv_close((uv_handle_t *)&eng->defer_timer, http_handle_closed);
  uv_close((uv_handle_t *)&eng->deadline_timer, http_handle_closed);
}
