/* kubefed-controller-manager: kubefed v1's federation-controller-manager on the runtime's
 * manager. It talks to the federation API (its kubeconfig) and to the members (credentials from
 * Secrets in the federation API), never to the host cluster. This file is the wiring: the flags
 * (operator/api/cm_options.c), which controllers run, and one runnable holding them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kf/log.h>
#include <kf/manager.h>
#include <kubefed/api.h>
#include <kubefed/cm_options.h>

#include "propagation/propagation.h"
#include "servicedns/servicedns.h"

static const char SYNOPSIS[] =
    "Usage: " API_CONTROLLER_MANAGER " [flags]\n\n"
    "Propagates what users create in the federation API to the member clusters (kubefed v1's\n"
    "federation-controller-manager). Runs inside each federation; the operator generates its flags.\n\n";

/* service-dns reads the members through the Services sync, which tells it what changed there: each
 * side is here while it runs (set at start, cleared before it closes). main's, so it outlives both. */
typedef struct dns_link {
  prop_sync *services;
  servicedns_ctrl *dns;
} dns_link;

static void tell_dns(const char *key, void *data) {
  dns_link *l = data;
  if (l->dns) servicedns_ctrl_enqueue(l->dns, key);
}

static char *member_ingresses(const char *key, const char *previous, void *data) {
  dns_link *l = data;
  return l->services ? prop_sync_service_ingresses(l->services, key, previous) : NULL;
}

/* The controllers as one runnable: a type's controller starts only once discovery says the
 * federation API serves the type (v1's rule), so its caches are built in start_caches. */
typedef struct cm {
  kf_manager *m;
  const cm_options *o;
  prop_members *members;
  prop_sync *syncs[CM_N_CONTROLLERS];
  dns_link *link;
  int discovering, discovered, closing, open;
  kf_manager_done_cb done;
  void *done_arg;
} cm;

typedef struct probe {
  cm *c;
  cm_controller id;
} probe;

static void start_type(cm *c, cm_controller id, int served) {
  const prop_type *t = prop_type_of(id);
  const char *name = cm_controller_names[id];
  if (!served) {
    if (c->o->controllers[id] == CM_ON) {
      KF_ERROR("--controllers asks for a controller whose resource the federation API does not serve", "controller",
               name, "resource", t->res->resource);
      exit(1);
    }
    if (t->res != &KC_NAMESPACES) {
      KF_WARN("controller off: the federation API does not serve its resource", "controller", name);
      return;
    }
  }
  prop_sync_opts so = {.type = t,
                       .propagate = served && c->o->controllers[id] != CM_OFF,
                       .hpas = c->o->controllers[CM_HPAS] != CM_OFF,
                       .uid = c->o->federation_uid,
                       /* v1's three: its service and job controllers', and replicasets' for the rest */
                       .workers = (int)(id == CM_SERVICES ? c->o->concurrent_service_syncs
                                        : id == CM_JOBS   ? c->o->concurrent_job_syncs
                                                          : c->o->concurrent_replicaset_syncs),
                       .fed = kf_manager_client(c->m),
                       .informers = kf_manager_informers(c->m),
                       .members = c->members,
                       .events = kf_manager_events(c->m),
                       .metrics = kf_manager_metrics(c->m),
                       .on_member_service = id == CM_SERVICES ? tell_dns : NULL,
                       .on_member_service_data = c->link};
  if (!so.propagate) KF_INFO("controller off: deletions of its objects are still finalized", "controller", name);
  c->syncs[id] = prop_sync_new(kf_manager_loop(c->m), &so);
  if (id == CM_SERVICES && so.propagate) c->link->services = c->syncs[id];
  if (c->open) prop_sync_start(c->syncs[id]);
}

static void on_discovery(kc_client *k, int rc, json_object *list, const kf_error *err, void *data) {
  probe *p = data;
  cm *c = p->c;
  (void)k;
  const prop_type *t = prop_type_of(p->id);
  int served = 0;
  json_object *res = kc_obj_get(list, "resources");
  for (size_t i = 0; rc == 0 && json_object_is_type(res, json_type_array) && i < json_object_array_length(res); i++) {
    const char *name = kc_obj_str(json_object_array_get_idx(res, i), "name");
    served |= name && strcmp(name, t->res->resource) == 0;
  }
  if (rc != 0 && rc != KC_ERR_NOTFOUND) { /* v1: a discovery error at start-up is fatal */
    KF_ERROR("discovery of the federation API failed", "controller", cm_controller_names[p->id], "error", err->msg);
    exit(1);
  }
  cm_controller id = p->id;
  free(p);
  if (!c->closing) start_type(c, id, served);
  if (--c->discovering == 0) c->discovered = 1;
}

static void cm_start_caches(void *obj) {
  cm *c = obj;
  for (int id = 0; id < CM_N_CONTROLLERS; id++) {
    const prop_type *t = prop_type_of((cm_controller)id);
    if (!t) continue;
    char *path = t->res->group[0] ? kf_asprintf("/apis/%s/%s", t->res->group, t->res->version)
                                  : kf_asprintf("/api/%s", t->res->version);
    probe *p = kf_calloc(1, sizeof(*p));
    p->c = c;
    p->id = (cm_controller)id;
    kc_request r = {.method = "GET", .path = path};
    c->discovering++;
    if (kc_do(kf_manager_client(c->m), &r, on_discovery, p) != 0) {
      KF_ERROR("discovery of the federation API failed", "path", path);
      exit(1);
    }
    free(path);
  }
}

static int cm_synced(const void *obj) {
  const cm *c = obj;
  if (!c->discovered) return 0;
  for (int id = 0; id < CM_N_CONTROLLERS; id++)
    if (c->syncs[id] && !prop_sync_synced(c->syncs[id])) return 0;
  return 1;
}

static void cm_start(void *obj) {
  cm *c = obj;
  c->open = 1;
  for (int id = 0; id < CM_N_CONTROLLERS; id++)
    if (c->syncs[id]) prop_sync_start(c->syncs[id]);
}

static void cm_sync_closed(void *arg) {
  cm *c = arg;
  if (--c->open > 0) return;
  prop_members_close(c->members);
  kf_manager_done_cb done = c->done;
  void *done_arg = c->done_arg;
  free(c);
  done(done_arg);
}

static void cm_close(void *obj, kf_manager_done_cb done, void *arg) {
  cm *c = obj;
  c->closing = 1;
  c->done = done;
  c->done_arg = arg;
  c->link->services = NULL;
  prop_members_quiesce(c->members);
  c->open = 1; /* held until every controller has reported */
  for (int id = 0; id < CM_N_CONTROLLERS; id++)
    if (c->syncs[id]) {
      c->open++;
      prop_sync_close(c->syncs[id], cm_sync_closed, c);
    }
  cm_sync_closed(c);
}

/* ---- service-dns (issue 16): a runnable of its own beside propagation ---- */

typedef struct dns_runnable {
  kf_manager *m;
  const cm_options *o;
  servicedns_ctrl *d;
  dns_link *link;
} dns_runnable;

/* Whether service-dns runs: on unless turned off (itself or services), with the coredns provider
 * and its file (v1 needs the file's zones). A default that cannot run is said once, not fatal. */
static int dns_wanted(const cm_options *o) {
  if (o->controllers[CM_SERVICE_DNS] == CM_OFF || o->controllers[CM_SERVICES] == CM_OFF) return 0;
  int coredns = o->dns_provider && strcmp(o->dns_provider, "coredns") == 0;
  int file = o->dns_provider_config && *o->dns_provider_config;
  if (coredns && file) return 1;
  KF_WARN("controller off: service-dns publishes records with --dns-provider=coredns and its "
          "--dns-provider-config only in this version",
          "controller", "service-dns", "dns-provider", o->dns_provider ? o->dns_provider : "");
  return 0;
}

static void dns_start_caches(void *obj) {
  dns_runnable *r = obj;
  informer_opts co = {.res = &API_CLUSTERS};
  int rc;
  kc_client *fed = kf_manager_client(r->m);
  servicedns_ctrl_opts o = {.config_path = r->o->dns_provider_config,
                            .federation = r->o->federation_name,
                            .suffix = r->o->service_dns_suffix && *r->o->service_dns_suffix ? r->o->service_dns_suffix
                                                                                            : r->o->zone_name,
                            .eng = kc_client_engine(fed),
                            .fed = fed,
                            .clusters = informer_factory_get(kf_manager_informers(r->m), fed, &co, &rc),
                            .metrics = kf_manager_metrics(r->m),
                            .workers = (int)r->o->concurrent_service_syncs,
                            .ingresses = member_ingresses,
                            .ingresses_data = r->link};
  kf_error err;
  kf_error_clear(&err);
  if (servicedns_ctrl_new(kf_manager_loop(r->m), &o, &r->d, &err) != 0) {
    KF_ERROR("service-dns cannot start", "error", err.msg); /* v1: a provider that does not initialize is fatal */
    exit(1);
  }
  servicedns_ctrl_load(r->d);
  r->link->dns = r->d;
}

static int dns_synced(const void *obj) {
  const dns_runnable *r = obj;
  return r->d && servicedns_ctrl_synced(r->d);
}

static void dns_start(void *obj) {
  dns_runnable *r = obj;
  if (r->d) servicedns_ctrl_start(r->d);
}

static void dns_close(void *obj, kf_manager_done_cb done, void *arg) {
  dns_runnable *r = obj;
  servicedns_ctrl *d = r->d;
  r->link->dns = NULL;
  free(r);
  if (d) servicedns_ctrl_close(d, done, arg);
  else done(arg);
}

/* The choices that need no cluster: controllers this version has not got. */
static int check_controllers(const cm_options *o) {
  if (o->controllers[CM_SERVICE_DNS] == CM_ON &&
      (!o->dns_provider || strcmp(o->dns_provider, "coredns") != 0 || !o->dns_provider_config ||
       !*o->dns_provider_config || o->controllers[CM_SERVICES] == CM_OFF)) {
    fprintf(stderr,
            "%s: --controllers service-dns=true needs --dns-provider=coredns, --dns-provider-config and services on "
            "in this version\n",
            API_CONTROLLER_MANAGER);
    return 2;
  }
  for (int id = 0; id < CM_N_CONTROLLERS; id++) {
    if (prop_type_of((cm_controller)id) || id == CM_SERVICE_DNS) continue;
    if (o->controllers[id] == CM_ON) {
      fprintf(stderr, "%s: --controllers %s=true: this version has no %s controller yet\n", API_CONTROLLER_MANAGER,
              cm_controller_names[id], cm_controller_names[id]);
      return 2;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  cm_options o;
  memset(&o, 0, sizeof(o));
  o.m = (kf_manager_opts){.program = API_CONTROLLER_MANAGER,
                          .version = KF_VERSION,
                          .field_manager = API_CONTROLLER_MANAGER,
                          .metrics_prefix = "kubefed_",
                          .event_controller = API_CM_EVENT_CONTROLLER,
                          .lease_namespace = API_FEDERATION_SYSTEM};
  size_t n;
  const kf_flags fs = {cm_options_flags(&n), n, 0, KF_FLAGS_HELP | KF_FLAGS_VERSION,
                       "see " API_CONTROLLER_MANAGER " --help"};
  kf_error err;
  int rc;
  kf_error_clear(&err);
  if ((rc = kf_flags_main(&fs, &o, argc, argv, API_CONTROLLER_MANAGER, KF_VERSION, SYNOPSIS)) != KF_FLAGS_GO_ON)
    return rc;
  if (cm_options_check(&o, &err) != 0) {
    fprintf(stderr, "%s: %s\n", API_CONTROLLER_MANAGER, err.msg);
    return 2;
  }
  if (!o.federation_uid || !o.federation_uid[0]) {
    fprintf(stderr, "%s: --federation-uid is required: member copies are labelled with it (the operator sets it)\n",
            API_CONTROLLER_MANAGER);
    return 2;
  }
  if ((rc = check_controllers(&o)) != 0) return rc;
  kf_manager *m;
  if (kf_manager_new(&o.m, &m, &err) != 0) {
    fprintf(stderr, "%s: %s\n", API_CONTROLLER_MANAGER, err.msg);
    return 1;
  }
  for (size_t i = 0; i < o.n_ignored; i++) {
    char flag[64];
    snprintf(flag, sizeof(flag), "--%s", o.ignored[i]);
    KF_WARN("flag accepted for kubefed v1 compatibility and ignored: see --help", "flag", flag);
  }

  dns_link link = {0}; /* outlives both runnables: kf_manager_run returns after they closed */
  cm *c = kf_calloc(1, sizeof(*c));
  c->m = m;
  c->o = &o;
  c->link = &link;
  c->members = prop_members_new(kf_manager_loop(m), kf_manager_client(m), kf_manager_informers(m),
                                kf_manager_metrics(m));
  const kf_runnable r = {"propagation", c, cm_start_caches, cm_synced, cm_start, cm_close};
  if (kf_manager_add(m, &r, &err) != 0) {
    fprintf(stderr, "%s: %s\n", API_CONTROLLER_MANAGER, err.msg);
    kf_manager_free(m);
    return 1;
  }
  if (dns_wanted(&o)) {
    dns_runnable *d = kf_calloc(1, sizeof(*d));
    d->m = m;
    d->o = &o;
    d->link = &link;
    const kf_runnable dr = {"service-dns", d, dns_start_caches, dns_synced, dns_start, dns_close};
    if (kf_manager_add(m, &dr, &err) != 0) {
      fprintf(stderr, "%s: %s\n", API_CONTROLLER_MANAGER, err.msg);
      kf_manager_free(m);
      return 1;
    }
  }
  rc = kf_manager_run(m);
  if (rc == 0) kf_manager_free(m); /* after losing the lease: exit now, handles and all */
  return rc;
}
