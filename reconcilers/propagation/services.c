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

/* The annotation's value for Service key, or NULL when a Ready member's caches are not complete
 * (a half-listed member would read as "no ready endpoint" and flap its records). previous: the
 * annotation as it is (a member that is not Ready keeps its entry from there). */
char *prop_sync_service_ingresses(prop_sync *s, const char *key, const char *previous) {
  if (!prop_sync_synced(s)) return NULL; /* no member listed yet would read as "no member" */
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
    copies[i] = informer_get_key(w->inf, key);
    ms[i].ingress = kc_obj_get(copies[i], "status.loadBalancer.ingress");
    slices_of c = {0};
    informer_by_index(w->slices, "service", key, collect_slice, &c);
    ms[i].endpoints_ready = servicedns_slices_ready(c.v, c.n);
    for (size_t j = 0; j < c.n; j++) json_object_put(c.v[j]);
    free(c.v);
  }
  char *text = complete ? servicedns_ingresses_build(previous, ms, n) : NULL;
  for (size_t i = 0; i < n; i++) json_object_put(copies[i]);
  free(copies);
  free(ms);
  return text;
}

char *prop_service_ingresses(prop_run *run) {
  const char *now = kc_obj_key_str(kc_obj_get(run->obj, "metadata.annotations"), SERVICEDNS_ANNOTATION);
  char *text = prop_sync_service_ingresses(run->s, run->key, now);
  if (!text) run->requeue_ms = 500;
  return text;
}

/* ---- prop_sync_opts.on_member_service: a member's copy of a Service or one of its slices changed ---- */

static void tell(prop_sync *s, char *key) {
  if (key && !s->closing) s->o.on_member_service(key, s->o.on_member_service_data);
  free(key);
}
static void copy_added(informer *inf, json_object *obj, void *data) {
  (void)inf;
  tell(data, informer_key_of(obj));
}
static void copy_updated(informer *inf, json_object *old, json_object *obj, void *data) {
  (void)inf, (void)old;
  tell(data, informer_key_of(obj));
}
static void slice_added(informer *inf, json_object *obj, void *data) {
  (void)inf;
  tell(data, slice_service(obj, NULL));
}
static void slice_updated(informer *inf, json_object *old, json_object *obj, void *data) {
  (void)inf, (void)old;
  tell(data, slice_service(obj, NULL));
}

void prop_tell_member_services(prop_sync *s, member_watch *w) {
  if (!s->o.on_member_service) return;
  informer_handlers copies = {copy_added, copy_updated, copy_added, s},
                    slices = {slice_added, slice_updated, slice_added, s};
  informer_add_handlers(w->inf, &copies);
  if (w->slices) informer_add_handlers(w->slices, &slices);
}
