/* The federation's members as the sync controllers use them: each Cluster object in the
 * federation API (written by the operator: labels, Ready, secretRef) with the credential Secret
 * its spec.secretRef names in federation-system, turned into one cached client per member by the
 * runtime's cluster registry. Nothing on the host is read.
 *
 * Any change of a Cluster or Secret recomputes the member set (coalesced to one pass per loop
 * iteration) and tells the listeners which member changed. A member whose credential changes
 * gets a new client: listeners hear of it first with client NULL (they close what runs on the
 * old one), then with the new client and epoch. */
#include <stdlib.h>
#include <string.h>

#include <kf/b64.h>
#include <kf/cond.h>
#include <kf/kj.h>
#include <kf/log.h>
#include <kubefed/api.h>

#include "propagation.h"

typedef struct member {
  prop_member pub;
  char *name;
  json_object *labels;
  char *inputs; /* what the client was built from: Secret resourceVersion + server */
  char *why;
  int seen;
} member;

typedef struct listener {
  prop_members_cb cb;
  void *data;
} listener;

struct prop_members {
  uv_loop_t *loop;
  informer *clusters_inf, *secrets_inf;
  clusters *registry;
  member **v; /* sorted by name */
  size_t n;
  listener *ls;
  size_t nls;
  uv_idle_t refresh;
  int refresh_pending, quiescing;
  unsigned next_epoch;
};

static void notify(prop_members *m, const char *name) {
  for (size_t i = 0; i < m->nls; i++) m->ls[i].cb(m, name, m->ls[i].data);
}

static member *find(const prop_members *m, const char *name, size_t *at) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(m->v[mid]->name, name);
    if (c == 0) {
      if (at) *at = mid;
      return m->v[mid];
    }
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  if (at) *at = lo;
  return NULL;
}

static void set_why(member *e, const char *why) {
  free(e->why);
  e->why = why ? kf_strdup(why) : NULL;
  e->pub.why_not = e->why;
}

/* Drops the member's client: listeners close what runs on it before the registry does. */
static void drop_client(prop_members *m, member *e) {
  if (!e->pub.client) return;
  e->pub.client = NULL;
  e->pub.epoch = ++m->next_epoch;
  free(e->inputs);
  e->inputs = NULL;
  notify(m, e->name);
  clusters_remove(m->registry, e->name);
}

static int cluster_ready(json_object *cluster) {
  const char *status = kc_obj_str(cond_find(cluster, "Ready"), "status");
  return status && strcmp(status, "True") == 0;
}

/* The client for cluster, from its Secret; NULL with e's why set when there is none. */
static void update_client(prop_members *m, member *e, json_object *cluster) {
  const char *secret_name = kc_obj_str(cluster, "spec.secretRef.name");
  json_object *addrs = kc_obj_get(cluster, "spec.serverAddressByClientCIDRs");
  const char *server = json_object_is_type(addrs, json_type_array) && json_object_array_length(addrs) > 0
                           ? kc_obj_str(json_object_array_get_idx(addrs, 0), "serverAddress")
                           : NULL;
  json_object *secret = secret_name ? informer_get(m->secrets_inf, API_FEDERATION_SYSTEM, secret_name) : NULL;
  const char *b64 = kc_obj_key_str(kc_obj_get(secret, "data"), "kubeconfig");
  char buf[512];
  if (!secret_name || !b64) {
    snprintf(buf, sizeof(buf), "no credential: %s%s%s", secret_name ? "Secret " API_FEDERATION_SYSTEM "/" : "",
             secret_name ? secret_name : "the Cluster has no spec.secretRef",
             secret_name ? (secret ? " has no kubeconfig" : " not found") : "");
    set_why(e, buf);
    drop_client(m, e);
    json_object_put(secret);
    return;
  }
  char *inputs = kf_asprintf("%s|%s", kc_obj_str(secret, "metadata.resourceVersion"), server ? server : "");
  if (e->pub.client && e->inputs && strcmp(e->inputs, inputs) == 0) {
    free(inputs);
    json_object_put(secret);
    return;
  }
  drop_client(m, e);
  size_t len = 0;
  char *kubeconfig = NULL;
  if (kf_b64_decode(b64, strlen(b64), &kubeconfig, &len) != 0) kubeconfig = NULL;
  json_object_put(secret);
  kc_client *c = NULL;
  kf_error err;
  kf_error_clear(&err);
  clusters_source src = {kubeconfig, len, NULL, server};
  int rc = kubeconfig ? clusters_client(m->registry, e->name, &src, &c, &err) : -1;
  if (kubeconfig) kf_free_secret(kubeconfig, len);
  if (rc != 0) {
    char *why = kf_asprintf("credential Secret %s: %s", secret_name, kubeconfig ? err.msg : "kubeconfig is not base64");
    set_why(e, why);
    free(why);
    free(inputs);
    return;
  }
  e->pub.client = c;
  e->pub.epoch = ++m->next_epoch;
  e->inputs = inputs;
  set_why(e, NULL);
  notify(m, e->name);
}

static void visit_cluster(json_object *cluster, void *data) {
  prop_members *m = data;
  const char *name = kc_obj_str(cluster, "metadata.name");
  size_t at;
  if (!name) return;
  member *e = find(m, name, &at);
  int changed = 0;
  if (!e) {
    e = kf_calloc(1, sizeof(*e));
    e->name = kf_strdup(name);
    e->pub.name = e->name;
    m->v = kf_realloc(m->v, (m->n + 1) * sizeof(member *));
    memmove(m->v + at + 1, m->v + at, (m->n - at) * sizeof(member *));
    m->v[at] = e;
    m->n++;
    changed = 1;
  }
  e->seen = 1;
  json_object *labels = kc_obj_get(cluster, "metadata.labels");
  if (!e->labels || !labels || !json_object_equal(e->labels, labels)) {
    json_object_put(e->labels);
    e->labels = labels ? json_object_get(labels) : NULL;
    e->pub.labels = e->labels;
    changed = 1;
  }
  int ready = cluster_ready(cluster);
  if (ready != e->pub.ready) e->pub.ready = ready, changed = 1;
  unsigned epoch = e->pub.epoch;
  update_client(m, e, cluster);
  if (!ready && !e->why) set_why(e, "Cluster is not Ready");
  if (ready && e->why && strcmp(e->why, "Cluster is not Ready") == 0) set_why(e, NULL);
  if (changed && epoch == e->pub.epoch) notify(m, e->name); /* update_client told them otherwise */
}

static void member_free(member *e) {
  json_object_put(e->labels);
  free(e->inputs);
  free(e->why);
  free(e->name);
  free(e);
}

static void refresh(uv_idle_t *h) {
  prop_members *m = h->data;
  uv_idle_stop(h);
  m->refresh_pending = 0;
  if (m->quiescing) return;
  for (size_t i = 0; i < m->n; i++) m->v[i]->seen = 0;
  informer_foreach(m->clusters_inf, visit_cluster, m);
  for (size_t i = 0; i < m->n;) {
    member *e = m->v[i];
    if (e->seen) {
      i++;
      continue;
    }
    /* The Cluster is gone (unjoined, or its FederatedCluster deleted): forget it entirely. */
    drop_client(m, e);
    memmove(m->v + i, m->v + i + 1, (m->n - i - 1) * sizeof(member *));
    m->n--;
    char *name = kf_strdup(e->name);
    member_free(e);
    notify(m, name);
    free(name);
  }
}

static void schedule(prop_members *m) {
  if (m->refresh_pending || m->quiescing) return;
  m->refresh_pending = 1;
  uv_idle_start(&m->refresh, refresh);
}

static void on_add(informer *inf, json_object *obj, void *data) {
  (void)inf, (void)obj;
  schedule(data);
}
static void on_update(informer *inf, json_object *o, json_object *n, void *data) {
  (void)inf, (void)o, (void)n;
  schedule(data);
}

/* The cache holds the credential Secrets whole (the kubeconfig is what we need); other Secrets of
 * federation-system are not the members' and are dropped to their names. */
static void keep_kubeconfig(json_object *secret, void *unused) {
  (void)unused;
  json_object *data = kc_obj_get(secret, "data"), *kc = NULL;
  if (json_object_is_type(data, json_type_object) && json_object_object_get_ex(data, "kubeconfig", &kc))
    json_object_get(kc);
  json_object_object_del(secret, "stringData");
  kj_set(secret, "data", kc ? kj_set(kj_obj(), "kubeconfig", kc) : kj_obj());
}

prop_members *prop_members_new(uv_loop_t *loop, kc_client *fed, informer_factory *f, kf_metrics *metrics) {
  prop_members *m = kf_calloc(1, sizeof(*m));
  m->loop = loop;
  /* A member write is a few milliseconds; 5 s is a member that does not answer (then skipped). */
  clusters_opts co = {.parent = fed, .metrics = metrics, .timeout_ms = 5000, .max_attempts = 2};
  m->registry = clusters_new(&co);
  uv_idle_init(loop, &m->refresh);
  m->refresh.data = m;
  int rc;
  informer_opts copts = {.res = &API_CLUSTERS};
  informer_opts sopts = {.res = &KC_SECRETS, .namespace_ = API_FEDERATION_SYSTEM, .transform = keep_kubeconfig};
  m->clusters_inf = informer_factory_get(f, fed, &copts, &rc);
  m->secrets_inf = informer_factory_get(f, fed, &sopts, &rc);
  informer_handlers h = {on_add, on_update, on_add, m};
  informer_add_handlers(m->clusters_inf, &h);
  informer_add_handlers(m->secrets_inf, &h);
  return m;
}

int prop_members_listen(prop_members *m, prop_members_cb cb, void *data) {
  m->ls = kf_realloc(m->ls, (m->nls + 1) * sizeof(listener));
  m->ls[m->nls++] = (listener){cb, data};
  return 0;
}

int prop_members_synced(const prop_members *m) {
  return informer_has_synced(m->clusters_inf) && informer_has_synced(m->secrets_inf) && !m->refresh_pending;
}

size_t prop_members_len(const prop_members *m) { return m->n; }
const prop_member *prop_members_at(const prop_members *m, size_t i) { return i < m->n ? &m->v[i]->pub : NULL; }
const prop_member *prop_members_get(const prop_members *m, const char *name) {
  member *e = find(m, name, NULL);
  return e ? &e->pub : NULL;
}

void prop_members_quiet(prop_members *m, const char *name, int rc) {
  member *e = find(m, name, NULL);
  if (!e || (rc != KC_ERR_TIMEOUT && rc != KC_ERR_UNREACHABLE)) return;
  e->pub.quiet_until = uv_now(m->loop) + PROP_MEMBER_QUIET_MS;
}

uint64_t prop_members_wait_ms(const prop_members *m, const prop_member *pm) {
  uint64_t now = uv_now(m->loop);
  if (!pm->ready || !pm->client) return UINT64_MAX;
  return pm->quiet_until > now ? pm->quiet_until - now : 0;
}

void prop_members_quiesce(prop_members *m) {
  m->quiescing = 1;
  uv_idle_stop(&m->refresh);
  informer_remove_handlers(m->clusters_inf, m);
  informer_remove_handlers(m->secrets_inf, m);
  clusters_quiesce(m->registry);
}

static void on_idle_closed(uv_handle_t *h) {
  prop_members *m = h->data;
  for (size_t i = 0; i < m->n; i++) member_free(m->v[i]);
  free(m->v);
  free(m->ls);
  free(m);
}

void prop_members_close(prop_members *m) {
  if (!m) return;
  if (!m->quiescing) prop_members_quiesce(m);
  clusters_close(m->registry);
  uv_close((uv_handle_t *)&m->refresh, on_idle_closed);
}
