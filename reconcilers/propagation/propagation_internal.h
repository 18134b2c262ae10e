/* What sync.c and deletion.c share: the controller and one reconcile. */
#ifndef KF_PROPAGATION_INTERNAL_H
#define KF_PROPAGATION_INTERNAL_H

#include <kf/ctrl.h>

#include "propagation.h"

typedef struct member_watch {
  char *name;
  unsigned epoch;
  informer *inf;    /* our copies of the type in the member (selected by our label) */
  informer *slices; /* Services: the member's EndpointSlices (their readiness), indexed by Service; else NULL */
} member_watch;

struct prop_sync {
  uv_loop_t *loop;
  prop_sync_opts o;
  char *uid;
  char *selector;       /* PROP_LABEL_PROPAGATED_BY=uid */
  const char *owner[3]; /* apply's owner labels: PROP_LABEL_PROPAGATED_BY, uid (outlives calls) */
  ctrl *c;
  informer *fed_inf;
  informer *hpa_inf; /* scheduled workloads: the federated HPAs, for the members whose replicas they own */
  member_watch **mw; /* heap entries: a call in flight looks its member's up again by name */
  size_t nmw;
  int active, closing;
  void (*closed)(void *);
  void *closed_arg;
};

/* One reconcile of one federated object: ctrl_done is called once, by prop_finish. */
typedef struct prop_run {
  prop_sync *s;
  char *key;
  json_object *obj; /* the federated object (owned), NULL when gone */
  prop_state *states;
  size_t n;
  char **owned; /* the strings states point to that are not literals */
  size_t nowned;
  int pending; /* member calls in flight */
  int rc;      /* < 0: retried with backoff */
  uint64_t requeue_ms;
  int unsynced; /* a member's cache is not complete: status not written this round */
  prop_selector *sel;
  int issued;                         /* deletions of member copies started */
  char *waiting;                      /* members a cascade waits for, "a, b" */
  char *created, *updated;            /* members written this round, "a, b": one event each */
  void (*then)(struct prop_run *run); /* what runs when pending drops to 0 */
  char **scheduled;                   /* scheduled workloads: the members whose status is summed */
  size_t nscheduled;
  int probed;         /* scheduled workloads: the members' unschedulable pods were counted this round */
  char **cap_members; /* ... and these have a capacity (spec.replicas - pods Unschedulable > 60 s) */
  int64_t *cap;
  size_t ncap;
} prop_run;

void prop_finish(prop_run *run);
/* Records member's state for the status annotation (fmt NULL: state is a literal). */
void prop_state_set(prop_run *run, const char *member, const char *state);
void prop_state_setf(prop_run *run, const char *member, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
member_watch *prop_watch_of(prop_sync *s, const char *member);
void prop_metric(prop_sync *s, const char *member, const char *result);
/* Deletes our copy of run's object in member pm (as w's cache holds it); 1 when a call started. */
int prop_remove_copy(prop_run *run, const prop_member *pm, member_watch *w);
/* Appends item to *list ("a, b"). */
void prop_list_add(char **list, const char *item);
/* One member call ended: when it was the last, run->then. */
void prop_call_done(prop_run *run);

/* scheduled.c (issue 15): the scheduled types' part of place(). */
typedef struct prop_plan {
  int64_t *share, *completions; /* workloads (replicas) and Jobs (parallelism), per prop_members_at; -1: none */
  int64_t *hmin, *hmax;         /* HPAs */
} prop_plan;
/* Starts counting unschedulable pods for a scheduled workload, again(run) when done: 1, else 0
 * (not such a type, or counted this round). */
int prop_sched_probe(prop_run *run, void (*again)(prop_run *run));
/* This round's shares; not 0: run finished (-EAGAIN: a member cache is listing, requeued). */
int prop_sched_plan(prop_run *run, prop_plan *p);
/* Member i's copy per the plan: 1 write *out (NULL: the type's plain copy), 0 skip (state set),
 * -1 remove our copy there (state set). */
int prop_sched_desired(prop_run *run, const prop_plan *p, size_t i, member_watch *w, json_object **out);
void prop_plan_free(prop_plan *p);
/* The summed status written when it changes, then next(run). */
void prop_sched_write_status(prop_run *run, void (*next)(prop_run *run));
/* prop_sync_new: the federated HPAs' informer (s->hpa_inf) for a workload type's retained replicas. */
void prop_sched_watch(prop_sync *s);

/* services.c: a member's EndpointSlices for the Services sync (keys of their Services enqueued). */
informer *prop_watch_slices(prop_sync *s, kc_client *member);
/* The service-ingresses annotation's value for run's Service, or NULL while a Ready member's caches
 * are incomplete (run->requeue_ms set). */
char *prop_service_ingresses(prop_run *run);
/* Adds the handlers of s->o.on_member_service (if set) to member watch w's informers. */
void prop_tell_member_services(prop_sync *s, member_watch *w);

/* deletion.c: obj has a deletionTimestamp. */
void prop_delete(prop_run *run);
/* kubefed v1's pair, which every propagated object carries once its first copies are written. */
extern const char *const PROP_FINALIZERS[];
/* Appends to ops (a JSON patch) the test and the write of obj's finalizers with add added and drop
 * removed; 1 when they change, else 0 and nothing appended. */
int prop_finalizer_ops(json_object *obj, const char *const *add, const char *const *drop, json_object *ops);

#endif
