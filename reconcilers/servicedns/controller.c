/* servicedns controller: kubefed v1's service DNS controller on the coredns provider (see
 * servicedns.h): federated Service + its service-ingresses + Cluster zones/region -> plan ->
 * the zone's records in etcd, written only where they differ. */
#include "servicedns_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kf/kcfg.h>
#include <kf/kj.h>
#include <kf/ctrl.h>
#include <kf/etcd.h>
#include <kf/kc.h>
#include <kf/log.h>

/* Re-reading the zone after etcd did not answer at start. */
#define SDNS_LOAD_RETRY_MS 2000

struct servicedns_ctrl {
  uv_loop_t *loop;
  servicedns_config cfg;
  char *federation, *suffix;
  char *pem[3]; /* ca, cert, key as read */
  size_t pem_len[3];
  etcd_client *etcd;
  servicedns_zone *zone;
  servicedns_resolver *resolver;
  informer *services, *clusters;
  char *(*ingresses)(const char *key, const char *previous, void *data);
  void *ingresses_data;
  ctrl *c;
  uv_timer_t retry;
  int loaded, loading, closing, active, services_started;
  uint64_t retry_ms; /* the next wait before reading the zone again: 2 s doubling to 60 s */
  void (*closed)(void *);
  void *closed_arg;
};

/* A file's bytes (NUL-terminated), through the kubeconfig loader's reader (a key file is read
 * without unwiped copies): 0, or -errno with a message. */
static int read_file(const char *path, const char *what, int secret, char **out, size_t *len, kf_error *err) {
  int rc = kcfg_read_file(path, 4 * 1024 * 1024, secret, out, len);
  if (rc == -EFBIG) return kf_error_set(err, rc, "%s %s: larger than 4 MiB", what, path);
  if (rc != 0) return kf_error_set(err, rc, "%s %s: cannot read it: %s", what, path, strerror(-rc));
  return 0;
}

static void reconcile(ctrl *cc, const char *key, void *data);
static char *cluster_changed(json_object *obj, void *data);

static void host_resolved(const char *key, void *data) {
  servicedns_ctrl *c = data;
  if (!c->closing) ctrl_enqueue(c->c, key);
}

/* What deciding a Service's records needs: its identity, deletion, type and our annotation. */
static void keep_dns_fields(json_object *obj, void *data) {
  (void)data;
  json_object *meta = kc_obj_get(obj, "metadata"), *keep = json_object_new_object();
  static const char *const META[] = {"name", "namespace", "uid", "resourceVersion", "deletionTimestamp", NULL};
  for (const char *const *k = META; *k; k++) {
    json_object *v = kc_obj_get(meta, *k);
    if (v) json_object_object_add(keep, *k, json_object_get(v));
  }
  const char *ann = kc_obj_key_str(kc_obj_get(meta, "annotations"), SERVICEDNS_ANNOTATION);
  if (ann) {
    json_object *a = json_object_new_object();
    json_object_object_add(a, SERVICEDNS_ANNOTATION, json_object_new_string(ann));
    json_object_object_add(keep, "annotations", a);
  }
  const char *type = kc_obj_str(obj, "spec.type");
  json_object *spec = json_object_new_object();
  if (type) json_object_object_add(spec, "type", json_object_new_string(type));
  kj_clear(obj);
  json_object_object_add(obj, "metadata", keep);
  json_object_object_add(obj, "spec", spec);
}

int servicedns_ctrl_new(uv_loop_t *loop, const servicedns_ctrl_opts *o, servicedns_ctrl **out, kf_error *err) {
  *out = NULL;
  if (!o->config_path || !*o->config_path)
    return kf_error_set(err, -EINVAL, "service-dns with the coredns provider needs --dns-provider-config");
  if (!o->federation || !*o->federation) return kf_error_set(err, -EINVAL, "service-dns needs --federation-name");
  if (!o->suffix || !*o->suffix)
    return kf_error_set(err, -EINVAL, "service-dns needs --zone-name (or --service-dns-suffix)");
  char *text = NULL;
  size_t len = 0;
  int rc = read_file(o->config_path, "--dns-provider-config", 0, &text, &len, err);
  if (rc != 0) return rc;
  servicedns_ctrl *c = kf_calloc(1, sizeof(*c));
  c->loop = loop;
  rc = servicedns_config_parse(text, len, &c->cfg, err);
  free(text);
  if (rc != 0) {
    free(c);
    return rc;
  }
  c->suffix = kf_strdup(o->suffix);
  size_t sl = strlen(c->suffix);
  if (sl > 1 && c->suffix[sl - 1] == '.') c->suffix[sl - 1] = '\0';
  for (char *p = c->suffix; *p; p++) *p = servicedns__lower(*p);
  int known = 0;
  for (char **z = c->cfg.zones; *z; z++) known |= strcmp(*z, c->suffix) == 0;
  if (!known) {
    rc = kf_error_set(err, -EINVAL,
                      "DNS suffix %s is none of the provider config's zones (the zone must exist: the "
                      "coredns provider cannot create one)",
                      c->suffix);
    goto fail;
  }
  const char *files[3] = {c->cfg.etcd_ca_file, c->cfg.etcd_cert_file, c->cfg.etcd_key_file};
  static const char *const what[3] = {"etcd-ca-file", "etcd-cert-file", "etcd-key-file"};
  for (int i = 0; i < 3; i++)
    if (files[i] && (rc = read_file(files[i], what[i], i == 2, &c->pem[i], &c->pem_len[i], err)) != 0) goto fail;
  etcd_client_opts eo = {.endpoints = (const char *const *)c->cfg.etcd_endpoints,
                         .ca_pem = c->pem[0],
                         .ca_pem_len = c->pem_len[0],
                         .cert_pem = c->pem[1],
                         .cert_pem_len = c->pem_len[1],
                         .key_pem = c->pem[2],
                         .key_pem_len = c->pem_len[2]};
  if ((rc = etcd_client_new(o->eng, &eo, &c->etcd, err)) != 0) goto fail;
  c->federation = kf_strdup(o->federation);
  c->zone = servicedns_zone_new(c->etcd, c->suffix);
  servicedns_resolver_opts ro = {.cb = host_resolved, .data = c};
  c->resolver = servicedns_resolver_new(loop, &ro);
  informer_opts so = {.res = &KC_SERVICES, .transform = keep_dns_fields};
  informer_handlers none = {0};
  c->services = informer_new(o->fed, &so, &none);
  c->clusters = o->clusters;
  c->ingresses = o->ingresses;
  c->ingresses_data = o->ingresses_data;
  uv_timer_init(loop, &c->retry);
  c->retry.data = c;
  ctrl_opts co = {.name = "service-dns",
                  .reconcile = reconcile,
                  .data = c,
                  .metrics = o->metrics,
                  .workers = o->workers > 0 ? o->workers : 10};
  c->c = ctrl_new(loop, &co);
  ctrl_watch(c->c, c->services, NULL, NULL);
  ctrl_watch(c->c, c->clusters, cluster_changed, c);
  *out = c;
  return 0;
fail:
  servicedns_config_free(&c->cfg);
  for (int i = 0; i < 3; i++)
    if (c->pem[i]) kf_free_secret(c->pem[i], c->pem_len[i]);
  free(c->suffix);
  free(c);
  return rc;
}

/* ---- one Service ---- */

typedef struct sdns_run {
  servicedns_ctrl *c;
  char *key;
  uint64_t requeue_ms; /* a host name's answer is due for a refresh then */
} sdns_run;

static void maybe_free(servicedns_ctrl *c);

static void run_end(sdns_run *run, int rc) {
  servicedns_ctrl *c = run->c;
  ctrl_done(c->c, run->key, rc, rc == 0 ? run->requeue_ms : 0);
  free(run->key);
  free(run);
  c->active--;
  maybe_free(c);
}

static void on_applied(servicedns_zone *z, int rc, const kf_error *err, void *data) {
  (void)z;
  sdns_run *run = data;
  if (rc != 0 && rc != -ECANCELED) KF_WARN("writing DNS records failed", "service", run->key, "error", err->msg);
  if (rc == 0) KF_INFO("service DNS records written", "service", run->key);
  run_end(run, rc == -ECANCELED ? 0 : rc);
}

static int is_ip(const char *s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* A listed cluster's addresses with host names replaced by what they resolve to (from the
 * resolver's cache): 1 while a name's first answer is awaited, else 0. */
static int resolve_hosts(servicedns_ctrl *c, sdns_run *run, servicedns_listed *l) {
  size_t n = 0, cap = 4;
  char **out = kf_calloc(cap + 1, sizeof(*out));
  int waiting = 0;
  for (char **a = l->addresses; *a; a++) {
    char **got = NULL;
    uint64_t refresh = 0;
    if (is_ip(*a)) {
      got = kf_calloc(2, sizeof(*got));
      got[0] = *a;
    } else {
      if (servicedns_resolver_get(c->resolver, *a, run->key, &got, &refresh) == 1) waiting = 1;
      if (!run->requeue_ms || refresh < run->requeue_ms) run->requeue_ms = refresh;
      free(*a);
    }
    for (char **g = got; g && *g; g++) {
      if (n == cap) out = kf_realloc(out, ((cap *= 2) + 1) * sizeof(*out));
      out[n++] = *g;
    }
    free(got);
  }
  out[n] = NULL;
  free(l->addresses);
  l->addresses = out;
  return waiting;
}

static void reconcile(ctrl *cc, const char *key, void *data) {
  (void)cc;
  servicedns_ctrl *c = data;
  sdns_run *run = kf_calloc(1, sizeof(*run));
  run->c = c;
  run->key = kf_strdup(key);
  c->active++;
  if (c->closing) {
    run_end(run, 0);
    return;
  }
  if (!c->loaded || !servicedns_ctrl_synced(c)) { /* a Cluster not listed yet would read as "no zones" */
    run->requeue_ms = 500;
    run_end(run, 0);
    return;
  }
  char *ns = NULL, *name = NULL;
  ctrl_split_key(key, &ns, &name);
  json_object *svc = informer_get_key(c->services, key);
  const char *type = kc_obj_str(svc, "spec.type");
  int deleted = !svc || kc_obj_get(svc, "metadata.deletionTimestamp") || !type || strcmp(type, "LoadBalancer") != 0;
  servicedns_listed *listed = NULL;
  size_t nl = 0;
  kf_error err;
  kf_error_clear(&err);
  const char *ann = deleted ? NULL : kc_obj_key_str(kc_obj_get(svc, "metadata.annotations"), SERVICEDNS_ANNOTATION);
  /* The members as they are now, ahead of the annotation the Services controller writes from them. */
  char *now = !deleted && c->ingresses ? c->ingresses(key, ann, c->ingresses_data) : NULL;
  if (now) ann = now;
  if (ann && servicedns_ingresses_parse(ann, &listed, &nl, &err) != 0) {
    KF_WARN("ignoring a malformed annotation", "service", key, "error", err.msg);
    nl = 0;
  }
  servicedns_cluster *cs = kf_calloc(nl + 1, sizeof(*cs));
  json_object **objs = kf_calloc(nl + 1, sizeof(*objs));
  const char ***zones = kf_calloc(nl + 1, sizeof(*zones));
  size_t n = 0;
  int missing = 0, waiting = 0;
  for (size_t i = 0; i < nl; i++) {
    json_object *cl = informer_get_key(c->clusters, listed[i].cluster);
    json_object *zs = kc_obj_get(cl, "status.zones");
    const char *region = kc_obj_str(cl, "status.region");
    size_t nz = json_object_is_type(zs, json_type_array) ? json_object_array_length(zs) : 0;
    if (!cl || nz == 0 || !region || !*region) {
      /* v1: "failed to get cluster zone names", retried with backoff. Leaving the cluster out
       * instead would remove its names and write them back once its status comes: churn. */
      kf_error_set(&err, -EAGAIN, "cluster %s has no zones or region in its status (yet)", listed[i].cluster);
      json_object_put(cl);
      missing = 1;
      break;
    }
    objs[n] = cl;
    zones[n] = kf_calloc(nz + 1, sizeof(char *));
    for (size_t j = 0; j < nz; j++) zones[n][j] = json_object_get_string(json_object_array_get_idx(zs, j));
    waiting |= resolve_hosts(c, run, &listed[i]);
    cs[n] = (servicedns_cluster){listed[i].cluster, region, zones[n], (const char *const *)listed[i].addresses};
    n++;
  }
  servicedns_service s = {name, ns, c->federation, c->suffix};
  servicedns_plan plan;
  /* Waiting for a host name's first answer: the resolver enqueues the Service when it comes. */
  int rc = missing ? -EAGAIN : waiting ? 1 : servicedns_plan_build(&s, cs, n, deleted, &plan, &err);
  if (rc == 0) {
    rc = servicedns_zone_apply(c->zone, &s, &plan, on_applied, run, &err);
    servicedns_plan_free(&plan);
  }
  if (rc < 0) KF_WARN("service DNS records not written", "service", key, "error", err.msg);
  for (size_t i = 0; i < n; i++) {
    json_object_put(objs[i]);
    free(zones[i]);
  }
  free(objs);
  free(zones);
  free(cs);
  servicedns_listed_free(listed, nl);
  free(now);
  json_object_put(svc);
  free(ns);
  free(name);
  if (rc != 0) run_end(run, rc == 1 ? 0 : rc); /* 1: nothing to write (or waiting) */
}

void servicedns_ctrl_enqueue(servicedns_ctrl *c, const char *key) {
  if (c && !c->closing) ctrl_enqueue(c->c, key);
}

/* A Cluster's zones or region changed: every LoadBalancer Service may name it. */
static void enqueue_lb(json_object *obj, void *data) {
  const char *type = kc_obj_str(obj, "spec.type");
  if (!type || strcmp(type, "LoadBalancer") != 0) return;
  char *key = informer_key_of(obj);
  ctrl_enqueue(data, key);
  free(key);
}

static char *cluster_changed(json_object *obj, void *data) {
  (void)obj;
  servicedns_ctrl *c = data;
  if (!c->closing) informer_foreach(c->services, enqueue_lb, c->c);
  return NULL;
}

/* ---- lifecycle ---- */

static void on_retry(uv_timer_t *t) { servicedns_ctrl_load(t->data); }

static void on_retry(uv_timer_t *t);

static uint64_t next_retry(servicedns_ctrl *c) {
  c->retry_ms = c->retry_ms ? c->retry_ms * 2 : SDNS_LOAD_RETRY_MS;
  if (c->retry_ms > 60000) c->retry_ms = 60000;
  return c->retry_ms;
}

static void on_loaded(servicedns_zone *z, int rc, const kf_error *err, void *data) {
  servicedns_ctrl *c = data;
  c->loading = 0;
  c->active--;
  if (rc == 0) {
    c->loaded = 1;
    KF_INFO("service DNS zone read from etcd", "zone", c->suffix, "keys", servicedns_zone_keys(z) ? "some" : "none");
  } else if (!c->closing) {
    KF_WARN("reading the service DNS zone from etcd failed; retrying", "zone", c->suffix, "error", err->msg);
    uv_timer_start(&c->retry, on_retry, next_retry(c), 0);
  }
  maybe_free(c);
}

void servicedns_ctrl_load(servicedns_ctrl *c) {
  if (!c->services_started) {
    c->services_started = 1;
    informer_start(c->services);
  }
  if (c->closing || c->loaded || c->loading) return;
  kf_error err;
  c->loading = 1;
  c->active++;
  if (servicedns_zone_load(c->zone, on_loaded, c, &err) != 0) {
    c->loading = 0;
    c->active--;
    KF_WARN("reading the service DNS zone failed; retrying", "error", err.msg);
    uv_timer_start(&c->retry, on_retry, next_retry(c), 0);
  }
}

int servicedns_ctrl_synced(const servicedns_ctrl *c) {
  return informer_has_synced(c->services) && informer_has_synced(c->clusters);
}

void servicedns_ctrl_start(servicedns_ctrl *c) {
  if (!c->c) return;
  ctrl_start(c->c);
}

static void on_retry_closed(uv_handle_t *h) {
  servicedns_ctrl *c = h->data;
  c->retry.data = NULL;
  maybe_free(c);
}

static void resolver_closed(void *arg) {
  servicedns_ctrl *c = arg;
  c->resolver = NULL;
  maybe_free(c);
}

static void maybe_free(servicedns_ctrl *c) {
  if (!c->closing || c->active || c->retry.data || c->resolver) return;
  void (*closed)(void *) = c->closed;
  void *arg = c->closed_arg;
  if (c->c) ctrl_close(c->c);
  informer_close(c->services);
  servicedns_zone_free(c->zone);
  servicedns_config_free(&c->cfg);
  for (int i = 0; i < 3; i++)
    if (c->pem[i]) kf_free_secret(c->pem[i], c->pem_len[i]);
  free(c->federation);
  free(c->suffix);
  free(c);
  if (closed) closed(arg);
}

void servicedns_ctrl_close(servicedns_ctrl *c, void (*done)(void *arg), void *arg) {
  if (!c || c->closing) return;
  c->closing = 1;
  c->closed = done;
  c->closed_arg = arg;
  uv_timer_stop(&c->retry);
  informer_pause(c->services);
  uv_close((uv_handle_t *)&c->retry, on_retry_closed);
  servicedns_resolver_close(c->resolver, resolver_closed, c);
  /* Calls in flight end with -ECANCELED; their runs then end. */
  etcd_client_close(c->etcd);
  c->etcd = NULL;
  maybe_free(c);
}
