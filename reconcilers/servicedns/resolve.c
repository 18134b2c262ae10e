/* servicedns resolve: load balancer host names (AWS ELBs) to IPv4 addresses, off the loop.
 *
 * Map: servicedns_ipv4_of (pure: an addrinfo list -> sorted unique dotted quads); the cache of
 * host entries (get, sweep); lookups on libuv's thread pool (start, pump, on_resolved) with at
 * most max_inflight at once and a timeout (tick); close. A lookup's end enqueues the keys that
 * asked for the host since its last end (the callback), when the answer changed. */
#include "servicedns_internal.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include <kf/log.h>

/* Past this many host names, entries not used for a while are dropped first; beyond it a new
 * name is not resolved (logged once): Services name few distinct load balancers. */
#define RESOLVE_MAX_HOSTS 4096
#define RESOLVE_TICK_MS 500

typedef struct sdns_host {
  char *name;
  char **addrs;     /* the last answer (NULL-terminated, possibly empty); NULL before the first */
  int failed;       /* the last lookup failed: logged once, until one succeeds */
  int queued;       /* waiting for a thread pool slot */
  int inflight;     /* req is running (it cannot be stopped: a timed-out one still holds its slot) */
  int timed_out;    /* the running lookup was given up on: its late answer is still taken */
  uint64_t expires; /* loop time after which a get starts a refresh */
  uint64_t used;    /* the last get */
  uint64_t started; /* the running lookup's start */
  char **waiters;   /* keys that asked since the last answer */
  size_t n_waiters;
  uv_getaddrinfo_t req;
  servicedns_resolver *r;
  struct sdns_host *next;
} sdns_host;

struct servicedns_resolver {
  uv_loop_t *loop;
  servicedns_resolver_opts o;
  sdns_host *hosts;
  size_t n_hosts;
  int inflight;
  int full_logged;
  int closing, tick_closed;
  uv_timer_t tick;
  void (*closed)(void *);
  void *closed_arg;
};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **servicedns_ipv4_of(const struct addrinfo *ai) {
  size_t n = 0;
  for (const struct addrinfo *p = ai; p; p = p->ai_next) n++;
  char **out = kf_calloc(n + 1, sizeof(*out));
  size_t w = 0;
  for (const struct addrinfo *p = ai; p; p = p->ai_next) {
    if (p->ai_family != AF_INET || !p->ai_addr || p->ai_addrlen < sizeof(struct sockaddr_in)) continue;
    char buf[INET_ADDRSTRLEN];
    if (!inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)p->ai_addr)->sin_addr, buf, sizeof(buf)))
      continue;
    out[w++] = kf_strdup(buf);
  }
  qsort(out, w, sizeof(*out), cmp_str);
  size_t u = 0;
  for (size_t i = 0; i < w; i++) {
    if (u > 0 && strcmp(out[u - 1], out[i]) == 0) free(out[i]);
    else out[u++] = out[i];
  }
  out[u] = NULL;
  return out;
}

void servicedns_strv_free(char **v) {
  for (char **p = v; p && *p; p++) free(*p);
  free(v);
}

static char **strv_dup(char *const *v) {
  size_t n = 0;
  while (v && v[n]) n++;
  char **d = kf_calloc(n + 1, sizeof(*d));
  for (size_t i = 0; i < n; i++) d[i] = kf_strdup(v[i]);
  return d;
}

static int strv_equal(char *const *a, char *const *b) {
  size_t i = 0;
  for (; a[i] && b[i]; i++)
    if (strcmp(a[i], b[i]) != 0) return 0;
  return !a[i] && !b[i];
}

servicedns_resolver *servicedns_resolver_new(uv_loop_t *loop, const servicedns_resolver_opts *o) {
  servicedns_resolver *r = kf_calloc(1, sizeof(*r));
  r->loop = loop;
  r->o = *o;
  if (!r->o.ttl_ms) r->o.ttl_ms = SERVICEDNS_RESOLVE_TTL_MS;
  if (!r->o.retry_ms) r->o.retry_ms = SERVICEDNS_RESOLVE_RETRY_MS;
  if (!r->o.timeout_ms) r->o.timeout_ms = SERVICEDNS_RESOLVE_TIMEOUT_MS;
  if (r->o.max_inflight <= 0) r->o.max_inflight = SERVICEDNS_RESOLVE_INFLIGHT;
  uv_timer_init(loop, &r->tick);
  r->tick.data = r;
  return r;
}

static void host_free(sdns_host *h) {
  free(h->name);
  servicedns_strv_free(h->addrs);
  for (size_t i = 0; i < h->n_waiters; i++) free(h->waiters[i]);
  free(h->waiters);
  free(h);
}

/* An answer (addrs owned, NULL: none) or a failure (status != 0): record it; if it changed what
 * the host gives, tell every waiter (notify: not on a get's stack, where the caller reads the
 * answer itself and the callback must not run). */
static void host_done(sdns_host *h, int status, char **addrs, int notify) {
  servicedns_resolver *r = h->r;
  uint64_t now = uv_now(r->loop);
  if (!addrs) addrs = kf_calloc(1, sizeof(*addrs));
  if (status != 0 || !addrs[0]) {
    if (!h->failed)
      KF_WARN("a load balancer host name did not resolve to an IPv4 address: it gives no A record until it does",
              "host", h->name, "error",
              status == UV_ETIMEDOUT ? "no answer within the timeout"
              : status != 0          ? uv_strerror(status)
                                     : "no IPv4 address");
    h->failed = 1;
    h->expires = now + r->o.retry_ms;
  } else {
    if (h->failed) KF_INFO("a load balancer host name resolves again", "host", h->name, "address", addrs[0]);
    h->failed = 0;
    h->expires = now + r->o.ttl_ms;
  }
  int changed = !h->addrs || !strv_equal(h->addrs, addrs);
  servicedns_strv_free(h->addrs);
  h->addrs = addrs;
  char **waiters = h->waiters;
  size_t n = h->n_waiters;
  h->waiters = NULL;
  h->n_waiters = 0;
  for (size_t i = 0; i < n; i++) {
    if (changed && notify && !r->closing && r->o.cb) r->o.cb(waiters[i], r->o.data);
    free(waiters[i]);
  }
  free(waiters);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res);
static void maybe_free(servicedns_resolver *r);

static void on_tick(uv_timer_t *t) {
  servicedns_resolver *r = t->data;
  uint64_t now = uv_now(r->loop);
  for (sdns_host *h = r->hosts; h; h = h->next)
    if (h->inflight && !h->timed_out && now - h->started >= r->o.timeout_ms) {
      h->timed_out = 1;
      host_done(h, UV_ETIMEDOUT, NULL, 1);
    }
  if (r->inflight == 0) uv_timer_stop(&r->tick);
}

static void start(sdns_host *h, int notify) {
  servicedns_resolver *r = h->r;
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_INET; /* A records */
  hints.ai_socktype = SOCK_STREAM;
  h->queued = 0;
  h->req.data = h;
  int rc = uv_getaddrinfo(r->loop, &h->req, on_resolved, h->name, NULL, &hints);
  if (rc != 0) {
    host_done(h, rc, NULL, notify);
    return;
  }
  h->inflight = 1;
  h->timed_out = 0;
  h->started = uv_now(r->loop);
  if (r->inflight++ == 0) uv_timer_start(&r->tick, on_tick, RESOLVE_TICK_MS, RESOLVE_TICK_MS);
}

/* Starts queued lookups while a slot is free, newest entries first; asking: the entry a get is
 * reading (its waiters are not told of a failure to start: the get returns it). */
static void pump(servicedns_resolver *r, const sdns_host *asking) {
  for (sdns_host *h = r->hosts; h && r->inflight < r->o.max_inflight && !r->closing; h = h->next)
    if (h->queued) start(h, h != asking);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  sdns_host *h = req->data;
  servicedns_resolver *r = h->r;
  h->inflight = 0;
  r->inflight--;
  char **addrs = status == 0 ? servicedns_ipv4_of(res) : NULL;
  uv_freeaddrinfo(res);
  if (r->closing) {
    servicedns_strv_free(addrs);
    maybe_free(r);
    return;
  }
  host_done(h, status, addrs, 1);
  pump(r, NULL);
}

/* Drops entries nobody asked for in a while (and not busy). */
static void sweep(servicedns_resolver *r, uint64_t now) {
  uint64_t idle = 3 * (r->o.ttl_ms > r->o.retry_ms ? r->o.ttl_ms : r->o.retry_ms);
  for (sdns_host **pp = &r->hosts; *pp;) {
    sdns_host *h = *pp;
    if (!h->inflight && !h->queued && now - h->used > idle) {
      *pp = h->next;
      host_free(h);
      r->n_hosts--;
    } else {
      pp = &h->next;
    }
  }
}

int servicedns_resolver_get(servicedns_resolver *r, const char *host, const char *key, char ***out,
                            uint64_t *refresh_ms) {
  *out = NULL;
  uint64_t now = uv_now(r->loop);
  size_t len = strlen(host);
  if (len > 0 && host[len - 1] == '.') len--;
  char *name = kf_strndup(host, len);
  for (char *p = name; *p; p++) *p = servicedns__lower(*p);
  sdns_host *h = r->hosts;
  while (h && strcmp(h->name, name) != 0) h = h->next;
  if (!h) {
    if (r->closing || !servicedns__valid_name(name)) {
      free(name);
      *out = kf_calloc(1, sizeof(**out));
      if (refresh_ms) *refresh_ms = r->o.ttl_ms;
      return 0;
    }
    sweep(r, now);
    if (r->n_hosts >= RESOLVE_MAX_HOSTS) {
      if (!r->full_logged)
        KF_WARN("too many load balancer host names to resolve: new ones give no A record", "host", name);
      r->full_logged = 1;
      free(name);
      *out = kf_calloc(1, sizeof(**out));
      if (refresh_ms) *refresh_ms = r->o.retry_ms;
      return 0;
    }
    h = kf_calloc(1, sizeof(*h));
    h->r = r;
    h->name = name;
    h->next = r->hosts;
    r->hosts = h;
    r->n_hosts++;
    name = NULL;
  }
  free(name);
  h->used = now;
  int known = 0;
  for (size_t i = 0; i < h->n_waiters && !known; i++) known = strcmp(h->waiters[i], key) == 0;
  if (!known) {
    h->waiters = kf_realloc(h->waiters, (h->n_waiters + 1) * sizeof(*h->waiters));
    h->waiters[h->n_waiters++] = kf_strdup(key);
  }
  if ((!h->addrs || now >= h->expires) && !h->inflight && !h->queued && !r->closing) {
    h->queued = 1;
    pump(r, h);
  }
  if (!h->addrs) return 1;
  *out = strv_dup(h->addrs);
  if (refresh_ms) *refresh_ms = h->expires > now ? h->expires - now : r->o.ttl_ms;
  return 0;
}

static void maybe_free(servicedns_resolver *r) {
  if (!r->closing || r->inflight || !r->tick_closed) return;
  while (r->hosts) {
    sdns_host *h = r->hosts;
    r->hosts = h->next;
    host_free(h);
  }
  void (*closed)(void *) = r->closed;
  void *arg = r->closed_arg;
  free(r);
  if (closed) closed(arg);
}

static void on_tick_closed(uv_handle_t *handle) {
  servicedns_resolver *r = handle->data;
  r->tick_closed = 1;
  maybe_free(r);
}

void servicedns_resolver_close(servicedns_resolver *r, void (*done)(void *arg), void *arg) {
  if (!r || r->closing) return;
  r->closing = 1;
  r->closed = done;
  r->closed_arg = arg;
  /* A lookup still queued in the pool ends at once with UV_EAI_CANCELED; a running one is waited
   * for (getaddrinfo cannot be interrupted; its own resolver timeouts bound it). */
  for (sdns_host *h = r->hosts; h; h = h->next)
    if (h->inflight) uv_cancel((uv_req_t *)&h->req);
  uv_close((uv_handle_t *)&r->tick, on_tick_closed);
}
