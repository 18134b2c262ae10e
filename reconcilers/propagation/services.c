/* Services (issue 16): each member's EndpointSlices, watched beside its Service copies, and kubefed
 * v1's service-ingresses annotation computed from both: a member with load balancer ingress is
 * listed, its addresses only while a slice of the Service has a ready endpoint. */
#include <stdlib.h>

#include <kf/kj.h>

#include "propagation_internal.h"
#include "servicedns/servicedns.h"

#define SLICE_SERVICE_LABEL "kubernetes.io/service-name"

/* A slice's Service, "namespace/name": its index value and the key it enqueues. */
static char *slice_service(json_object *obj, void *data) {
  (void)data;
  const char *ns = kc_obj_str(obj, "metadata.namespace");
  const char *svc = kc_obj_key_str(kc_obj_get(obj, "metadata.labels"), SLICE_SERVICE_LABEL);
  return ns && svc ? kf_asprintf("%s/%s", ns, svc) : NULL;
}

/* What readiness needs of a slice: its name, namespace, labels and each endpoint's conditions
 * (a member's slices are many and their addresses and topology are not ours to keep). */
static void slice_transform(json_object *obj, void *data) {
  (void)data;
  json_object *meta = kc_obj_get(obj, "metadata"), *keep = kj_obj(), *eps = kj_arr();
  static const char *const META[] = {"name", "namespace", "uid", "resourceVersion", "labels", NULL};
  for (const char *const *k = META; *k; k++) kj_copy(keep, *k, kc_obj_get(meta, *k));
  json_object *in = kc_obj_get(obj, "endpoints");
  size_t n = json_object_is_type(in, json_type_array) ? json_object_array_length(in) : 0;
  for (size_t i = 0; i < n; i++)
    kj_push(eps, kj_copy(kj_obj(), "conditions", kc_obj_get(json_object_array_get_idx(in, i), "conditions")));
  kj_clear(obj);
  kj_set(obj, "metadata", keep);
  kj_set(obj, "endpoints", eps);
}

informer *prop_watch_slices(prop_sync *s, kc_client *member) {
  informer_opts io = {.res = &API_ENDPOINTSLICES,
                      .label_selector = SLICE_SERVICE_LABEL,
                      .transform = slice_transform,
                      .list_from_cache = 1};
  informer_handlers h = ctrl_handlers(s->c, slice_service, NULL);
  informer *inf = informer_new(member, &io, &h);
  informer_add_indexer(inf, "service", slice_service, NULL);
  informer_set_metrics(inf, s->o.metrics);
  informer_start(inf);
  return inf;
}

typedef struct slices_of {
  json_object **v;
  size_t n;
} slices_of;

/* obj is the index's own parse of the slice, put after this returns: kept with a reference. */
static void collect_slice(json_object *obj, void *data) {
  slices_of *c = data;
  c->v = kf_realloc(c->v, (c->n + 1) * sizeof(json_object *));
  c->v[c->n++] = json_object_get(obj);
}

/* The annotation's value for run's Service, or NULL when a Ready member's caches are not complete
 * (a half-listed member would read as "no ready endpoint" and flap its records): not written then. */
char *prop_service_ingresses(prop_run *run) {
  prop_sync *s = run->s;
  prop_members *m = s->o.members;
  size_t n = prop_members_len(m);
  servicedns_member *ms = kf_calloc(n + 1, sizeof(*ms));
  json_object **copies = kf_calloc(n + 1, sizeof(json_object *));
  int complete = 1;
  for (size_t i = 0; i < n; i++) {
    const prop_member *pm = prop_members_at(m, i);
    member_watch *w = prop_watch_of(s, pm->name);
    ms[i].name = pm->name;
    ms[i].ready = pm->ready && pm->client && w && w->epoch == pm->epoch;
    if (!ms[i].ready) continue;
    if (!informer_has_synced(w->inf) || !w->slices || !informer_has_synced(w->slices)) {
      complete = 0;
      break;
    }
    copies[i] = informer_get_key(w->inf, run->key);
    ms[i].ingress = kc_obj_get(copies[i], "status.loadBalancer.ingress");
    slices_of c = {0};
    informer_by_index(w->slices, "service", run->key, collect_slice, &c);
    ms[i].endpoints_ready = servicedns_slices_ready(c.v, c.n);
    for (size_t j = 0; j < c.n; j++) json_object_put(c.v[j]);
    free(c.v);
  }
  char *text = NULL;
  if (complete) {
    const char *now = kc_obj_key_str(kc_obj_get(run->obj, "metadata.annotations"), SERVICEDNS_ANNOTATION);
    text = servicedns_ingresses_build(now, ms, n);
  } else {
    run->requeue_ms = 500;
  }
  for (size_t i = 0; i < n; i++) json_object_put(copies[i]);
  free(copies);
  free(ms);
  return text;
}
