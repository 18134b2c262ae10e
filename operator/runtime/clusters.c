/* clusters: members by key in a small hash table; each member holds its client, watch slots and
 * probe timer.
 *
 *   table        clusters_find / clusters_add / clusters_unlink (chained buckets, doubled as it fills)
 *   client       clusters_client: SHA-256 of the inputs decides whether to rebuild
 *   watches      clusters_watch: one informer per slot, events -> on_change
 *   probe        clusters_probe: a repeating timer, GET /readyz (then /healthz), -> on_probe
 *   lifetime     a member is freed when removed and nothing refers to it any more (its probe in
 *                flight, its timer's close callback, a call of clusters_remove itself) */
#include <kf/clusters.h>

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include <kf/log.h>

typedef struct cl_slot {
  informer *inf;
  const kc_resource *res;
  char *ns, *label, *field;
  void (*transform)(json_object *obj, void *data);
  int max_depth;
} cl_slot;

typedef struct cl_member {
  struct cl_member *next;
  clusters *cl;
  char *key;
  unsigned char hash[32];
  kc_client *c;
  cl_slot slot[CLUSTERS_MAX_WATCHES];
  uv_timer_t *timer; /* probe timer, allocated while probing is on */
  uint64_t period_ms, timeout_ms;
  int probing; /* a probe is in flight */
  int paused, removed;
  int refs; /* things that will still call back with this member */
  void *data;
  void (*free_fn)(void *);
} cl_member;

struct clusters {
  clusters_opts o;
  cl_member **buckets;
  size_t n_buckets, len;
  size_t alive; /* members not freed yet (removed ones may wait for a callback) */
  int closing;
};

/* ---- table ---- */

static size_t cl_hash(const char *s, size_t n) {
  size_t h = 5381;
  while (*s) h = h * 33 + (unsigned char)*s++;
  return h & (n - 1);
}

static cl_member *clusters_find(const clusters *cl, const char *key) {
  for (cl_member *m = cl->buckets[cl_hash(key, cl->n_buckets)]; m; m = m->next)
    if (strcmp(m->key, key) == 0) return m;
  return NULL;
}

static void clusters_grow(clusters *cl) {
  size_t n = cl->n_buckets * 2;
  cl_member **b = kf_calloc(n, sizeof(*b));
  for (size_t i = 0; i < cl->n_buckets; i++) {
    for (cl_member *m = cl->buckets[i], *next; m; m = next) {
      next = m->next;
      size_t h = cl_hash(m->key, n);
      m->next = b[h];
      b[h] = m;
    }
  }
  free(cl->buckets);
  cl->buckets = b;
  cl->n_buckets = n;
}

static cl_member *clusters_add(clusters *cl, const char *key) {
  if (cl->len + 1 > cl->n_buckets) clusters_grow(cl);
  cl_member *m = kf_calloc(1, sizeof(*m));
  m->cl = cl;
  m->key = kf_strdup(key);
  size_t h = cl_hash(key, cl->n_buckets);
  m->next = cl->buckets[h];
  cl->buckets[h] = m;
  cl->len++;
  cl->alive++;
  return m;
}

static void clusters_unlink(clusters *cl, cl_member *m) {
  for (cl_member **p = &cl->buckets[cl_hash(m->key, cl->n_buckets)]; *p; p = &(*p)->next) {
    if (*p == m) {
      *p = m->next;
      cl->len--;
      return;
    }
  }
}

static void clusters_maybe_free(clusters *cl);

static void cl_member_unref(cl_member *m) {
  if (--m->refs > 0 || !m->removed) return;
  clusters *cl = m->cl;
  for (size_t i = 0; i < CLUSTERS_MAX_WATCHES; i++) {
    free(m->slot[i].ns);
    free(m->slot[i].label);
    free(m->slot[i].field);
  }
  if (m->free_fn) m->free_fn(m->data);
  free(m->key);
  free(m);
  cl->alive--;
  clusters_maybe_free(cl);
}

clusters *clusters_new(const clusters_opts *o) {
  clusters *cl = kf_calloc(1, sizeof(*cl));
  cl->o = *o;
  cl->n_buckets = 64;
  cl->buckets = kf_calloc(cl->n_buckets, sizeof(*cl->buckets));
  return cl;
}

/* ---- watches ---- */

static void cl_event(cl_member *m, informer *inf, json_object *obj) {
  /* The initial list is the baseline the reconcile reads, not a change. */
  if (m->removed || !informer_has_synced(inf) || !m->cl->o.on_change) return;
  m->cl->o.on_change(m->cl, m->key, obj, m->cl->o.data);
}
static void cl_on_add(informer *inf, json_object *obj, void *data) { cl_event(data, inf, obj); }
static void cl_on_update(informer *inf, json_object *old, json_object *obj, void *data) {
  (void)old;
  cl_event(data, inf, obj);
}
static void cl_on_delete(informer *inf, json_object *obj, void *data) { cl_event(data, inf, obj); }

static void cl_slot_stop(cl_slot *s) {
  informer_close(s->inf);
  s->inf = NULL;
}

static void cl_slot_start(cl_member *m, cl_slot *s) {
  informer_opts io = {.res = s->res,
                      .namespace_ = s->ns,
                      .label_selector = s->label,
                      .field_selector = s->field,
                      .transform = s->transform,
                      .list_from_cache = 1,
                      .max_depth = s->max_depth,
                      .page_size = 100};
  informer_handlers h = {cl_on_add, cl_on_update, cl_on_delete, m};
  s->inf = informer_new(m->c, &io, &h);
  informer_set_metrics(s->inf, m->cl->o.metrics);
  if (m->paused) informer_pause(s->inf);
  informer_start(s->inf);
}

static int cl_streq(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

int clusters_watch(clusters *cl, const char *key, size_t slot, const informer_opts *o) {
  cl_member *m = clusters_find(cl, key);
  if (slot >= CLUSTERS_MAX_WATCHES) return -EINVAL;
  if (!m || !m->c) return -ENOENT;
  cl_slot *s = &m->slot[slot];
  const char *ns = o && o->namespace_ && o->namespace_[0] ? o->namespace_ : NULL;
  if (o && s->res == o->res && cl_streq(s->ns, ns) && cl_streq(s->label, o->label_selector) &&
      cl_streq(s->field, o->field_selector) && s->transform == o->transform && s->max_depth == o->max_depth)
    return 0;
  cl_slot_stop(s);
  free(s->ns);
  free(s->label);
  free(s->field);
  memset(s, 0, sizeof(*s));
  if (!o) return 0;
  s->res = o->res;
  s->ns = ns ? kf_strdup(ns) : NULL;
  s->label = o->label_selector ? kf_strdup(o->label_selector) : NULL;
  s->field = o->field_selector ? kf_strdup(o->field_selector) : NULL;
  s->transform = o->transform;
  s->max_depth = o->max_depth;
  cl_slot_start(m, s);
  return 0;
}

const informer *clusters_cache(const clusters *cl, const char *key, size_t slot) {
  cl_member *m = clusters_find(cl, key);
  if (!m || slot >= CLUSTERS_MAX_WATCHES || !m->slot[slot].inf) return NULL;
  return informer_has_synced(m->slot[slot].inf) ? m->slot[slot].inf : NULL;
}

void clusters_pause(clusters *cl, const char *key) {
  cl_member *m = clusters_find(cl, key);
  if (!m || m->paused) return;
  m->paused = 1;
  for (size_t i = 0; i < CLUSTERS_MAX_WATCHES; i++)
    if (m->slot[i].inf) informer_pause(m->slot[i].inf);
}

void clusters_resume(clusters *cl, const char *key) {
  cl_member *m = clusters_find(cl, key);
  if (!m || !m->paused) return;
  m->paused = 0;
  for (size_t i = 0; i < CLUSTERS_MAX_WATCHES; i++)
    if (m->slot[i].inf) informer_resume(m->slot[i].inf);
}

/* ---- client ---- */

static void cl_digest(const clusters_source *src, unsigned char out[32]) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned int n = 0;
  if (!ctx) abort(); /* out of memory, as kf_calloc */
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  EVP_DigestUpdate(ctx, src->kubeconfig, src->len);
  /* NUL-separated, so ("a", "bc") and ("ab", "c") differ. */
  EVP_DigestUpdate(ctx, "", 1);
  if (src->context) EVP_DigestUpdate(ctx, src->context, strlen(src->context) + 1);
  EVP_DigestUpdate(ctx, "\1", 1);
  if (src->server) EVP_DigestUpdate(ctx, src->server, strlen(src->server));
  EVP_DigestFinal_ex(ctx, out, &n);
  EVP_MD_CTX_free(ctx);
}

int clusters_client(clusters *cl, const char *key, const clusters_source *src, kc_client **out, kf_error *err) {
  unsigned char hash[32];
  cl_member *m = clusters_find(cl, key);
  *out = NULL;
  if (cl->closing) return kf_error_set(err, KC_ERR_CANCELED, "the cluster registry is closing");
  cl_digest(src, hash);
  if (m && m->c && memcmp(m->hash, hash, sizeof(hash)) == 0) {
    *out = m->c;
    return 0;
  }
  kcfg *cfg = NULL;
  int rc = kcfg_load_data(src->kubeconfig, src->len, NULL, src->context, &cfg, err);
  if (rc != 0) return rc;
  if (src->server) {
    free(cfg->server);
    cfg->server = kf_strdup(src->server);
  }
  kc_client *c = kc_client_derive(cl->o.parent, cfg, err);
  kcfg_free(cfg);
  if (!c) return err && err->code ? err->code : -EINVAL;
  /* One connection per member, as each member is its own cluster: its watches and requests
   * multiplex over it and never queue behind another member's on a shared one (members that
   * share a server and credentials, e.g. one cluster joined under two names). */
  if ((rc = kc_client_isolate(c, err)) != 0) {
    kc_client_close(c);
    return rc;
  }
  kc_client_set_metrics(c, cl->o.metrics);
  kc_client_set_metrics_target(c, cl->o.target);
  if (cl->o.timeout_ms || cl->o.max_attempts) kc_client_set_limits(c, cl->o.timeout_ms, cl->o.max_attempts);
  if (!m) m = clusters_add(cl, key);
  /* New credentials: what ran on the old client starts again on the new one. */
  for (size_t i = 0; i < CLUSTERS_MAX_WATCHES; i++) cl_slot_stop(&m->slot[i]);
  kc_client *old = m->c;
  m->c = c;
  memcpy(m->hash, hash, sizeof(hash));
  kc_client_close(old); /* a probe in flight on it ends with KC_ERR_CANCELED, unreported */
  for (size_t i = 0; i < CLUSTERS_MAX_WATCHES; i++)
    if (m->slot[i].res) cl_slot_start(m, &m->slot[i]);
  *out = c;
  return 0;
}

kc_client *clusters_get(const clusters *cl, const char *key) {
  cl_member *m = clusters_find(cl, key);
  return m ? m->c : NULL;
}

/* ---- probe ---- */

static void cl_probe_report(cl_member *m, int rc, const kf_error *err) {
  m->probing = 0;
  /* A probe the registry cut (client rebuilt or removed) says nothing about the member. */
  if (!m->removed && rc != KC_ERR_CANCELED && m->cl->o.on_probe)
    m->cl->o.on_probe(m->cl, m->key, rc, err, m->cl->o.data);
  cl_member_unref(m);
}

static void cl_healthz(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  cl_member *m = data;
  kf_error e;
  (void)c;
  if (rc == 0 && !kf_streq(json_object_get_string(obj), "ok")) {
    kf_error_clear(&e);
    rc = kf_error_set(&e, KC_ERR_SERVER, "/healthz did not answer ok");
    err = &e;
  }
  cl_probe_report(m, rc, err);
}

static void cl_readyz(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  cl_member *m = data;
  (void)obj;
  if (rc == KC_ERR_NOTFOUND && !m->removed && c == m->c) { /* older API servers: /healthz */
    kc_request r = {.method = "GET", .path = "/healthz", .timeout_ms = m->timeout_ms, .no_retry = 1};
    if (kc_do(c, &r, cl_healthz, m) == 0) return;
  }
  cl_probe_report(m, rc, err);
}

static void cl_probe_tick(uv_timer_t *t) {
  cl_member *m = t->data;
  if (m->probing || m->removed || !m->c) return; /* one at a time: a slow member is not piled on */
  kc_request r = {.method = "GET", .path = "/readyz", .timeout_ms = m->timeout_ms, .no_retry = 1};
  m->refs++;
  m->probing = 1;
  if (kc_do(m->c, &r, cl_readyz, m) != 0) {
    m->probing = 0;
    m->refs--;
  }
}

static void cl_timer_closed(uv_handle_t *h) {
  cl_member *m = h->data;
  free(h);
  cl_member_unref(m);
}

static void cl_probe_stop(cl_member *m) {
  if (!m->timer) return;
  uv_close((uv_handle_t *)m->timer, cl_timer_closed);
  m->timer = NULL;
  m->period_ms = m->timeout_ms = 0;
}

int clusters_probe(clusters *cl, const char *key, uint64_t period_ms, uint64_t timeout_ms) {
  cl_member *m = clusters_find(cl, key);
  if (!m || !m->c) return -ENOENT;
  if (m->timer && m->period_ms == period_ms && m->timeout_ms == timeout_ms) return 0;
  cl_probe_stop(m);
  if (!period_ms) return 0;
  m->timer = kf_calloc(1, sizeof(*m->timer));
  uv_timer_init(http_engine_loop(kc_client_engine(cl->o.parent)), m->timer);
  m->timer->data = m;
  m->refs++;
  m->period_ms = period_ms;
  m->timeout_ms = timeout_ms;
  uint64_t first = period_ms < 1000 ? period_ms : 1000;
  uv_timer_start(m->timer, cl_probe_tick, (uint64_t)kf_random() % first, period_ms);
  return 0;
}

void clusters_quiesce(clusters *cl) {
  for (size_t i = 0; i < cl->n_buckets; i++)
    for (cl_member *m = cl->buckets[i]; m; m = m->next) {
      clusters_pause(cl, m->key);
      cl_probe_stop(m);
    }
}

/* ---- data, removal ---- */

void *clusters_data(const clusters *cl, const char *key) {
  cl_member *m = clusters_find(cl, key);
  return m ? m->data : NULL;
}

int clusters_set_data(clusters *cl, const char *key, void *data, void (*free_fn)(void *)) {
  cl_member *m = clusters_find(cl, key);
  if (!m) return -ENOENT;
  if (m->free_fn && m->data != data) m->free_fn(m->data);
  m->data = data;
  m->free_fn = free_fn;
  return 0;
}

static void cl_member_remove(clusters *cl, cl_member *m) {
  clusters_unlink(cl, m);
  m->removed = 1;
  m->refs++; /* closing the client may end a probe right here */
  for (size_t i = 0; i < CLUSTERS_MAX_WATCHES; i++) cl_slot_stop(&m->slot[i]);
  cl_probe_stop(m);
  kc_client_close(m->c);
  m->c = NULL;
  cl_member_unref(m);
}

void clusters_remove(clusters *cl, const char *key) {
  cl_member *m = clusters_find(cl, key);
  if (m) cl_member_remove(cl, m);
}

size_t clusters_len(const clusters *cl) { return cl->len; }

static void clusters_maybe_free(clusters *cl) {
  if (!cl->closing || cl->alive) return;
  free(cl->buckets);
  free(cl);
}

void clusters_close(clusters *cl) {
  if (!cl || cl->closing) return;
  cl->closing = 1;
  cl->alive++; /* removals below may free members (and would free cl) as they go */
  for (size_t i = 0; i < cl->n_buckets; i++)
    while (cl->buckets[i]) cl_member_remove(cl, cl->buckets[i]);
  cl->alive--;
  clusters_maybe_free(cl);
}
