/* propagation: kubefed-controller-manager's sync controllers, kubefed v1's generic sync
 * controller (reference federation-controller-manager-v1.md §2) with what KubeFed v2 and Karmada
 * fixed: copies carry our label and member watches select it, an unlabelled same-named object is
 * a conflict rather than silently taken, a defaulting difference never writes, per-member state
 * is on the federated object.
 *
 *   types.c     the type table (a propagated type is a row), what is never propagated, the member
 *               copy, the member cache's transform, the per-member status annotation: pure
 *   selector.c  v1's cluster-selector annotation: parse and match (pure)
 *   members.c   the federation's members: Cluster objects + credential Secrets in the federation
 *               API -> one cached client per Ready member (the runtime's cluster registry)
 *   sync.c      one controller per type: federated informer, per-member informers, reconcile
 *   scheduled.c the scheduled types' part of a reconcile (issue 15): replicas, Job parallelism and
 *               HPA bounds divided over the members (scheduling/), the members' status summed back
 *   deletion.c  v1's finalizers: cascade / orphan / foreground, and the federation API's
 *               namespace finalizer (nothing else runs there to do it) */
#ifndef KF_PROPAGATION_H
#define KF_PROPAGATION_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <kf/clusters.h>
#include <kf/error.h>
#include <kf/ev.h>
#include <kf/informer.h>
#include <kf/kc.h>
#include <kf/metrics.h>
#include <kubefed/api.h>
#include <kubefed/cm_options.h>

#include "scheduling/scheduling.h"

/* ---- API names (kubefed v1's where v1 had one) ---- */
#define PROP_LABEL_PROPAGATED_BY API_LABEL_PROPAGATED_BY
#define PROP_ANNOTATION_STATUS "kubefed.dev/propagation-status"
#define PROP_ANNOTATION_HASH "kubefed.dev/propagated-hash"
#define PROP_ANNOTATION_CONFLICT "kubefed.dev/conflict-resolution"
#define PROP_ANNOTATION_SELECTOR "federation.alpha.kubernetes.io/cluster-selector"
#define PROP_FINALIZER "federation.kubernetes.io/delete-from-underlying-clusters"
#define PROP_FINALIZER_ORPHAN "orphan"
#define PROP_FINALIZER_FOREGROUND "foregroundDeletion"

/* ---- types.c ---- */

typedef struct prop_type {
  cm_controller id;       /* its --controllers key */
  const kc_resource *res; /* in the federation API and in members alike */
  /* Top-level fields copied to members besides name, namespace, labels and annotations. */
  const char *const *fields;
  /* Ingresses, Services: the federated object's status.loadBalancer.ingress is the sorted union of the
   * members' (the member cache keeps their status for it). */
  int lb_status_union;
} prop_type;

/* The types this version propagates, in --controllers order; NULL when id has none. */
const prop_type *prop_type_of(cm_controller id);

/* Scheduled workloads (issue 15): spec.replicas divided over the members by v1's planner with the
 * preferences annotation, the members' status summed back as kind. */
typedef struct prop_sched {
  cm_controller id;
  const char *preferences;
  sched_workload_kind kind;
} prop_sched;
/* NULL when t is not scheduled. */
const prop_sched *prop_sched_of(const prop_type *t);

/* 1 when obj is never propagated as an object: the system namespaces, what lives in them, and
 * what an apiserver or a member makes by itself (default/kubernetes, kube-root-ca.crt, the
 * default ServiceAccount, service-account tokens). */
int prop_skip(const prop_type *t, json_object *obj);

/* The member copy of federated object obj: its name, namespace, labels (+ ours with uid),
 * annotations (but the ones this program writes on federated objects, + the copy's hash), and
 * the type's fields. A new object. */
json_object *prop_desired(const prop_type *t, json_object *obj, const char *uid);

/* What prop_desired takes out of a Service's copy (before its hash): drops spec.clusterIP(s) (but "None"), every ports[].nodePort and
 * spec.healthCheckNodePort. */
void prop_service_copy(json_object *desired);

/* The copy for one member of a scheduled workload: prop_desired with spec.replicas = replicas, or
 * without spec.replicas when replicas < 0. A new object. */
json_object *prop_desired_replicas(const prop_type *t, json_object *obj, const char *uid, int64_t replicas);
/* The copy for one member of a federated Job: its share of parallelism and completions (< 0:
 * unset), spec.manualSelector true. A new object. */
json_object *prop_desired_job(const prop_type *t, json_object *obj, const char *uid, int64_t parallelism,
                              int64_t completions);

/* The copy for one member of a federated HorizontalPodAutoscaler: its share of the bounds. */
json_object *prop_desired_hpa(const prop_type *t, json_object *obj, const char *uid, int64_t min, int64_t max);

/* The federated cache's transform: list items carry no apiVersion and kind; Events about the
 * object (regarding) need them. */
void prop_set_kind(json_object *obj, void *type);

/* The member cache's transform: keeps metadata.name/namespace/uid/resourceVersion/labels/
 * annotations and the type's fields (what deciding a write needs), drops the rest; a scheduled
 * workload also keeps metadata.generation and status (current replicas, the status sums). */
void prop_transform(json_object *obj, void *type);

/* The sorted, de-duplicated union of the copies' status.loadBalancer.ingress entries (copies may
 * be NULL), as a new array. */
json_object *prop_lb_union(json_object *const *copies, size_t n);

/* Per-member state, member -> text, shown on the federated object as PROP_ANNOTATION_STATUS. */
typedef struct prop_state {
  const char *member;
  const char *state; /* Applied, ConflictInCluster, NotSelected, or "Failed: why" */
} prop_state;
/* The annotation's value: a JSON object with members in name order (malloc'd). */
char *prop_status_text(const prop_state *states, size_t n);

/* ---- selector.c ---- */

/* A parsed cluster-selector: requirements ANDed, matched against a Cluster's labels. */
typedef struct prop_selector prop_selector;
/* text NULL (no annotation): matches every member. -EINVAL with the parse error in err. */
int prop_selector_parse(const char *text, prop_selector **out, kf_error *err);
int prop_selector_match(const prop_selector *s, json_object *labels);
void prop_selector_free(prop_selector *s);

/* ---- members.c ---- */

typedef struct prop_members prop_members;
typedef struct prop_member {
  const char *name;
  int ready;            /* Cluster Ready=True */
  json_object *labels;  /* the Cluster's labels (borrowed, may be NULL) */
  kc_client *client;    /* NULL: no usable credential (yet); borrowed from the registry */
  unsigned epoch;       /* changes whenever client does */
  const char *why_not;  /* when !ready or !client: why, for the status annotation */
  uint64_t quiet_until; /* loop time: a call timed out, the member is skipped until then */
} prop_member;

/* How long a member that did not answer (timeout, connection refused) is skipped by every
 * reconcile: one black-holed member must not hold every worker for its timeouts while its Cluster
 * is still Ready (the operator's probes take a few periods to say otherwise). */
#define PROP_MEMBER_QUIET_MS 10000

/* Something about a member changed (name NULL: several may have). */
typedef void (*prop_members_cb)(prop_members *m, const char *name, void *data);

prop_members *prop_members_new(uv_loop_t *loop, kc_client *fed, informer_factory *f, kf_metrics *metrics);
int prop_members_listen(prop_members *m, prop_members_cb cb, void *data);
int prop_members_synced(const prop_members *m);
size_t prop_members_len(const prop_members *m);
const prop_member *prop_members_at(const prop_members *m, size_t i); /* in name order */
const prop_member *prop_members_get(const prop_members *m, const char *name);
/* The member did not answer (rc from a call to it): skip it for PROP_MEMBER_QUIET_MS. */
void prop_members_quiet(prop_members *m, const char *name, int rc);
/* 0 when pm can take calls now, else how long (ms) until it may (not Ready: a long time). */
uint64_t prop_members_wait_ms(const prop_members *m, const prop_member *pm);
void prop_members_quiesce(prop_members *m);
void prop_members_close(prop_members *m);

/* ---- sync.c ---- */

typedef struct prop_sync prop_sync;
typedef struct prop_sync_opts {
  const prop_type *type;
  int propagate; /* 0: the type is off: only finalizers are handled (deletions never hang) */
  int hpas;      /* the HPA controller is on: a member's replicas that a federated HPA targets are its */
  const char *uid;
  int workers;
  kc_client *fed;
  informer_factory *informers;
  prop_members *members;
  ev_recorder *events;
  kf_metrics *metrics;
  /* Services: told the key of a Service whose copy or EndpointSlices changed in a member (service-dns
   * reads the members through prop_sync_service_ingresses); optional. */
  void (*on_member_service)(const char *key, void *data);
  void *on_member_service_data;
} prop_sync_opts;

prop_sync *prop_sync_new(uv_loop_t *loop, const prop_sync_opts *o);
int prop_sync_synced(const prop_sync *s);
void prop_sync_start(prop_sync *s);
/* Services: kubefed v1's service-ingresses annotation for Service key (ns/name) as the members' caches
 * say now (previous: the annotation as it is), or NULL while a Ready member's caches are incomplete.
 * The caller frees it. */
char *prop_sync_service_ingresses(prop_sync *s, const char *key, const char *previous);
/* Stops taking work; done(arg) once running reconciles have ended; frees s. */
void prop_sync_close(prop_sync *s, void (*done)(void *arg), void *arg);

#endif
