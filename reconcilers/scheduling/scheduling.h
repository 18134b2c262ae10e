/* scheduling: how a federated workload's replicas are divided over member clusters, and how the
 * members' status is summed back, as pure functions (federation v1's federatedtypes/scheduling.go,
 * util/planner, hpa.go and the job controller; reference federation-controller-manager-v1.md §3.5,
 * §3.7, §3.8, §4).
 *
 * Nothing here talks to a cluster: the propagation controller reads the federated object and its
 * member copies, calls these, and writes what they return. Every input may come from a user (the
 * preferences annotation) or a member apiserver (status), so garbage gives -EINVAL with a message
 * and never a crash; all arithmetic is bounded so that no input overflows an int64. */
#ifndef KF_SCHEDULING_H
#define KF_SCHEDULING_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include <kf/error.h>

#define SCHED_ANN_DEPLOYMENT "federation.kubernetes.io/deployment-preferences"
#define SCHED_ANN_REPLICASET "federation.kubernetes.io/replica-set-preferences"
#define SCHED_ANN_JOB "federation.kubernetes.io/job-preferences"

/* Replica counts are int32 in every workload API; weights are int64 in v1 but anything above this
 * bound is refused, so that remaining * weight (the planner's ceil division) fits in an int64. */
#define SCHED_MAX_VALUE INT32_MAX
/* "no maxReplicas" and "capacity unknown" */
#define SCHED_UNBOUNDED (-1)
/* "this member has no object yet" for sched_member.current */
#define SCHED_NO_OBJECT (-1)

typedef struct sched_cluster_pref {
  char *cluster;        /* a member name, or "*" for every member without its own entry */
  int64_t min_replicas; /* assigned first, before any weight counts */
  int64_t max_replicas; /* SCHED_UNBOUNDED when absent or null */
  int64_t weight;       /* 0: the member only ever gets its minimum */
} sched_cluster_pref;

/* The preferences annotation. Owns its entries. */
typedef struct sched_prefs {
  int rebalance; /* 0: replicas already running in a member stay there (up to the new total) */
  size_t n;
  sched_cluster_pref *clusters;
} sched_prefs;

/* Parses an annotation value. NULL (annotation absent) gives the default
 * {"clusters":{"*":{"weight":1}}} and returns 0. Field names match case-insensitively, as v1's Go
 * struct without json tags did ("Rebalance", "minreplicas", ...); cluster names do not; unknown
 * fields are ignored. Anything else that v1's json.Unmarshal refused (not JSON, a string where a
 * number belongs, 1.5 replicas) is -EINVAL with a message, and *out is then the default too, so
 * the caller can report a Warning event and carry on as v1 did. Also refused, where v1 took them
 * and then planned nonsense: negative values, and values above SCHED_MAX_VALUE. */
int sched_prefs_parse(const char *annotation, sched_prefs *out, kf_error *err);
void sched_prefs_default(sched_prefs *out);
void sched_prefs_free(sched_prefs *p);

/* One planner input per candidate member (Ready and selected). */
typedef struct sched_member {
  const char *name;
  int64_t current;  /* replicas running there now (its workload's status), SCHED_NO_OBJECT if none */
  int64_t capacity; /* estimated capacity (spec.replicas minus pods Unschedulable > 60 s), or SCHED_UNBOUNDED */
} sched_member;

/* How long a pod must have been Unschedulable before its workload's member counts as full (v1). */
#define SCHED_UNSCHEDULABLE_S 60

/* v1's podanalyzer (reference §4.3) over a member's pods (a List), counting only the pods the
 * workload owns by ownerReferences, never by labels (kubernetes#45673): owner_uid is the member
 * workload's metadata.uid; replicasets (a List, may be NULL) are the member's ReplicaSets, so that
 * a Deployment's pods (owned by its ReplicaSets) count. *unschedulable: the pods not Running whose
 * PodScheduled condition has been False/Unschedulable for more than SCHED_UNSCHEDULABLE_S at now
 * (epoch seconds); *next_s: seconds until the next such pod passes that mark (-1: none). */
void sched_unschedulable(json_object *pods, json_object *replicasets, const char *owner_uid, int64_t now,
                         int64_t *unschedulable, int64_t *next_s);

/* A count at path in a member's object (a status or spec field): 0 when missing or not an
 * integer, clamped to [0, SCHED_MAX_VALUE]. */
int64_t sched_count(json_object *obj, const char *path);

/* How long a share this controller wrote counts whole while its pods start: the 60 s v1 gave a
 * pending pod before it counted as Unschedulable. */
#define SCHED_START_GRACE_S SCHED_UNSCHEDULABLE_S

/* What a member runs, for sched_member.current (reference §4.3, one change): v1 counted a copy's
 * ready replicas, so without rebalance a plan made while one member's pods were ready and another's
 * still starting moved replicas between them (50 over two equal members, one pod ahead: 24/26),
 * and the member events that trigger a plan come at once here (v1 waited 10 s). So the copy's
 * spec.replicas counts while manager (this controller's field manager) is among the writers of
 * spec.replicas its managedFields list, and wrote it at most SCHED_START_GRACE_S before now (epoch
 * seconds); otherwise, and when somebody else wrote spec.replicas since (an Update takes the field
 * from us), status.readyReplicas, as v1. SCHED_NO_OBJECT for a NULL copy. The writers are read
 * from copy's SCHED_REPLICA_WRITERS, as sched_keep_replica_writers keeps them. */
int64_t sched_current(json_object *copy, const char *manager, int64_t now);
/* A member cache keeps no managedFields (they are most of an object): the entries of meta's that
 * hold spec.replicas, as [{"manager", "time"}], go to out's SCHED_REPLICA_WRITERS (nothing when
 * none does). */
#define SCHED_REPLICA_WRITERS "replicaWriters"
void sched_keep_replica_writers(json_object *meta, json_object *out);

/* 32-bit FNV-1 (not 1a: Go's fnv.New32) of a then b: the planner's tie-break. */
uint32_t sched_fnv1(const char *a, const char *b);

/* The planner, step for step as v1's Plan (reference §4.4): minimums first, then (without
 * rebalance) current replicas kept, then weighted rounds rounding up, members ordered by weight
 * descending and sched_fnv1(name, key) ascending, maxReplicas and capacity closing a member
 * (capacity's excess recorded as overflow). key is "namespace/name". plan[i] and overflow[i]
 * (both n long, caller's) answer for members[i]; a member without a preference gets 0. Without
 * rebalance, overflow is trimmed to what could not be placed anywhere. What a member's object
 * gets is plan[i] + overflow[i] (reference §4.5): pods pending where they cannot schedule stay
 * pending while their copies are placed elsewhere. -EINVAL for replicas outside
 * [0, SCHED_MAX_VALUE] or a current/capacity above SCHED_MAX_VALUE. */
int sched_plan(const sched_prefs *prefs, int64_t replicas, const sched_member *members, size_t n, const char *key,
               int64_t *plan, int64_t *overflow, kf_error *err);

/* A member's copy of a federated HPA as its apiserver reports it, for sched_hpa_divide. */
typedef struct sched_hpa_member {
  int exists;               /* the member has the HPA; the fields below count only then */
  int64_t min, max;         /* its spec.minReplicas (1 when unset) and spec.maxReplicas */
  int64_t current, desired; /* status.currentReplicas and status.desiredReplicas */
  int64_t last_scale;       /* status.lastScaleTime, epoch seconds; -1 when it never scaled */
} sched_hpa_member;

/* A member's HPA (as its apiserver returns it; NULL: the member has none) as sched_hpa_divide reads
 * it. A count that is missing or not an integer is 0, a minReplicas missing is 1. */
sched_hpa_member sched_hpa_member_of(json_object *hpa);

/* RFC 3339 UTC at second resolution, as the apiserver writes times, in epoch seconds; -1 otherwise. */
int64_t sched_epoch(const char *t);

/* v1's scaleForbiddenWindow: a member HPA that scaled less than this ago neither lends nor borrows. */
#define SCHED_HPA_SCALE_WINDOW_S 300

/* Seconds from now until the first of members passes its window (the division may then change:
 * nothing else in the member says so), -1 when none is inside it. */
int64_t sched_hpa_next_rest(const sched_hpa_member *members, size_t n, int64_t now);

/* An HPA's minReplicas/maxReplicas divided over n members taken in the order given (the caller
 * sorts them by name: v1 walked Go maps and sets, so the split changed from one sync to the next),
 * v1's ReconcileHook (hpa.go; reference §3.7) pass by pass, with chunks max(1, min/n) and
 * max(2, max/n):
 *   prepare   members[i] (NULL: no member has the HPA yet) gives each member's bounds now; a member
 *             lends max when max - 1 >= min and its HPA is pristine (never scaled, desired 0) or,
 *             past SCHED_HPA_SCALE_WINDOW_S since its last scale at now (epoch seconds), wants
 *             fewer than it runs or runs below its max at rest; it lends min when min > 1 and it
 *             is pristine or rests at its min;
 *   shrink    when the federated bounds are below the members' sum: one from each lender, then one
 *             from each member round by round (never max below min: v1 could write max < min);
 *   max       +1 to each member at rest at its max past the window (from a lender, else from what
 *             is left), then to members without the HPA: lenders' units one by one, then the rest
 *             in chunks; with no such member, the rest in chunks over all;
 *   min       +1 to each member wanting more than its min past the window, from a lender; then
 *             like max, only where min stays <= max, and what members without the HPA cannot
 *             take to the members that have it;
 *   finalise  max 0: no HPA there (the caller deletes one it finds); else min at least 1.
 * Where v1 then handed lenders' units that nobody needed round the members in map order (a shuffle
 * on every sync), an unclaimed unit stays with its lender; where v1 looped for ever on a chunk that
 * fitted nowhere, the chunk shrinks to 1 and then what still fits nowhere is dropped. Without
 * members the split is the first one v1 made. fed_min < 1 means v1's default 1. min[i]/max[i]
 * answer for member i. -EINVAL when max < min or either exceeds SCHED_MAX_VALUE. n == 0 is fine
 * (v1 divided by zero). */
int sched_hpa_divide(int64_t fed_min, int64_t fed_max, const sched_hpa_member *members, size_t n, int64_t now,
                     int64_t *min, int64_t *max, kf_error *err);

/* A Job's parallelism and completions over members (reference §3.8): parallelism planned with the
 * job preferences (no current, no capacity, key "namespace/name"); completions, when >= 0, planned
 * the same way over the members whose parallelism is > 0 only, so that no member gets completions
 * without the pods to run them (v1 planned both over every member: parallelism 1, completions 3
 * over three members left two Jobs that could never finish). completions < 0 means unset: each
 * out_completions[i] is then -1. A member with out_parallelism[i] == 0 gets no Job. */
int sched_job_divide(const sched_prefs *prefs, int64_t parallelism, int64_t completions, const char *const *members,
                     size_t n, const char *key, int64_t *out_parallelism, int64_t *out_completions, kf_error *err);

/* Status sums. members[i] is member i's workload as its apiserver returned it, NULL when that
 * member should have one and does not yet; prev is the federated object as it is now (its status
 * is kept where the rules below say so); now is an RFC 3339 time for new conditions. The result is
 * a new status object; *changed says whether it differs from prev's status, so a caller writes
 * only on change. A member whose copy does not yet carry the spec the federation wants is passed
 * as NULL: its own observedGeneration would otherwise vouch for a spec that is not the current one. */
typedef enum {
  SCHED_KIND_DEPLOYMENT,
  SCHED_KIND_REPLICASET,
  SCHED_KIND_STATEFULSET,
  SCHED_KIND_JOB /* sched_workload_status is sched_job_status */
} sched_workload_kind;

/* replicas, updatedReplicas, readyReplicas, availableReplicas (and unavailableReplicas for a
 * Deployment, fullyLabeledReplicas for a ReplicaSet, currentReplicas for a StatefulSet) summed;
 * observedGeneration is prev's metadata.generation once every member's status.observedGeneration
 * has reached its own metadata.generation (a member missing is not observed), else prev's status
 * value; a Deployment gets an Available condition, True when every member's Deployment has
 * Available=True. That is what `kubectl rollout status` and `kubectl wait --for=condition=Available`
 * read. */
json_object *sched_workload_status(sched_workload_kind kind, json_object *prev, json_object *const *members, size_t n,
                                   const char *now, int *changed);

/* active, succeeded, failed summed, with the apiserver's Job status rules kept: startTime, once
 * set, never changes (first set to the earliest member's); a federated Job finishes once, and a
 * finished one keeps its terminal conditions; Failed (when any member's Job failed) comes with
 * FailureTarget, Complete (when every member's Job completed) with SuccessCriteriaMet and with
 * completionTime (the latest member's, never before startTime), written that once; active is 0
 * once finished. */
json_object *sched_job_status(json_object *prev, json_object *const *members, size_t n, const char *now, int *changed);

#endif
