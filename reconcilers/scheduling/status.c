/* Members' workload status summed into the federated object's (reference §4.6, §3.8; the issue's
 * rules where v1 was wrong: observedGeneration, the Available condition, the Job status rules), and
 * read for the planner: what a member runs (sched_current) and what it cannot (sched_unschedulable). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kf/cond.h>
#include <kf/kc.h>
#include <kf/kj.h>

#include "scheduling/scheduling.h"

int64_t sched_count(json_object *obj, const char *path) {
  json_object *v = kc_obj_get(obj, path);
  int64_t x = v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
  /* A member's apiserver is trusted with its own counts, not with our arithmetic. */
  return x < 0 ? 0 : x > SCHED_MAX_VALUE ? SCHED_MAX_VALUE : x;
}

static int sched_cond_is(json_object *obj, const char *type, const char *status) {
  json_object *c = cond_find(obj, type);
  return c && kf_streq(kc_obj_str(c, "status"), status);
}

/* 1 when want and have hold the same fields with the same values. */
static int sched_same(json_object *want, json_object *have) {
  if (!have) return 0;
  return kj_subset(want, have) && kj_subset(have, want);
}

/* A condition as Deployments and Jobs write them: the times of prev's condition of that type kept
 * while nothing about it changes, lastTransitionTime kept while its status stays. */
static json_object *sched_cond(json_object *prev_obj, const char *type, const char *status, const char *reason,
                               const char *message, const char *probe_key, const char *now) {
  json_object *old = cond_find(prev_obj, type), *c = kj_obj();
  int same_status = old && kf_streq(kc_obj_str(old, "status"), status);
  int same_all = same_status && kf_streq(kc_obj_str(old, "reason"), reason) &&
                 kf_streq(kc_obj_str(old, "message"), message);
  kj_str(c, "type", type);
  kj_str(c, "status", status);
  kj_str(c, probe_key, same_all && kc_obj_str(old, probe_key) ? kc_obj_str(old, probe_key) : now);
  kj_str(c, "lastTransitionTime",
         same_status && kc_obj_str(old, "lastTransitionTime") ? kc_obj_str(old, "lastTransitionTime") : now);
  kj_str(c, "reason", reason);
  kj_str(c, "message", message);
  return c;
}

json_object *sched_workload_status(sched_workload_kind kind, json_object *prev, json_object *const *members, size_t n,
                                   const char *now, int *changed) {
  static const char *const deployment[] = {"replicas",          "updatedReplicas",     "readyReplicas",
                                           "availableReplicas", "unavailableReplicas", NULL};
  static const char *const replicaset[] = {"replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas",
                                           NULL};
  static const char *const statefulset[] = {"replicas",      "currentReplicas",   "updatedReplicas",
                                            "readyReplicas", "availableReplicas", NULL};
  /* Only fields of each kind's status schema: the apiserver drops (and warns about) any other. */
  const char *const *fields = kind == SCHED_KIND_DEPLOYMENT   ? deployment
                              : kind == SCHED_KIND_REPLICASET ? replicaset
                                                              : statefulset;
  json_object *st, *prev_status = kc_obj_get(prev, "status");
  size_t observed = 0, available = 0;

  if (kind == SCHED_KIND_JOB) return sched_job_status(prev, members, n, now, changed);
  st = kj_obj();

  for (size_t f = 0; fields[f]; f++) {
    int64_t sum = 0;
    char path[64];
    snprintf(path, sizeof(path), "status.%s", fields[f]);
    for (size_t i = 0; i < n; i++) sum += sched_count(members[i], path);
    kj_int(st, fields[f], sum);
  }
  for (size_t i = 0; i < n; i++) {
    if (!members[i]) continue;
    /* A member has observed its latest spec once its controller says so for its own generation
     * (generations differ between clusters: they count each object's own spec changes). */
    if (kc_obj_get(members[i], "status.observedGeneration") &&
        sched_count(members[i], "status.observedGeneration") >= sched_count(members[i], "metadata.generation"))
      observed++;
    if (sched_cond_is(members[i], "Available", "True")) available++;
  }
  if (observed == n && kc_obj_get(prev, "metadata.generation"))
    kj_int(st, "observedGeneration", sched_count(prev, "metadata.generation"));
  else if (kc_obj_get(prev_status, "observedGeneration"))
    kj_int(st, "observedGeneration", sched_count(prev_status, "observedGeneration"));

  if (kind == SCHED_KIND_DEPLOYMENT) {
    int ok = n > 0 && available == n;
    char msg[128];
    snprintf(msg, sizeof(msg), "%zu of %zu member clusters have the Deployment available", available, n);
    kj_set(st, "conditions",
           kj_push(kj_arr(), sched_cond(prev, "Available", ok ? "True" : "False",
                                        ok ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable", msg,
                                        "lastUpdateTime", now)));
  }
  *changed = !sched_same(st, prev_status);
  return st;
}

/* The member condition of that type with status True that changed last (RFC 3339 UTC strings
 * compare as times), or NULL. */
static json_object *sched_latest_cond(json_object *const *members, size_t n, const char *type) {
  json_object *best = NULL;
  for (size_t i = 0; i < n; i++) {
    json_object *c = members[i] ? cond_find(members[i], type) : NULL;
    if (!c || !kf_streq(kc_obj_str(c, "status"), "True")) continue;
    if (!best || strcmp(kc_obj_str(c, "lastTransitionTime") ? kc_obj_str(c, "lastTransitionTime") : "",
                        kc_obj_str(best, "lastTransitionTime") ? kc_obj_str(best, "lastTransitionTime") : "") > 0)
      best = c;
  }
  return best;
}

/* The earliest (first) or latest (!first) of the members' values at path, or NULL. */
static const char *sched_time(json_object *const *members, size_t n, const char *path, int first) {
  const char *t = NULL;
  for (size_t i = 0; i < n; i++) {
    const char *v = members[i] ? kc_obj_str(members[i], path) : NULL;
    if (v && (!t || (first ? strcmp(v, t) < 0 : strcmp(v, t) > 0))) t = v;
  }
  return t;
}

json_object *sched_job_status(json_object *prev, json_object *const *members, size_t n, const char *now, int *changed) {
  json_object *prev_status = kc_obj_get(prev, "status"), *st = kj_obj(), *conds = kj_arr(),
              *prev_conds = kc_obj_get(prev_status, "conditions"), *failed = sched_latest_cond(members, n, "Failed");
  int was_finished = sched_cond_is(prev, "Complete", "True") || sched_cond_is(prev, "Failed", "True");
  size_t complete = 0;
  int64_t active = 0;
  const char *start = kc_obj_str(prev_status, "startTime");
  const char *done = NULL;

  for (size_t i = 0; i < n; i++) {
    active += sched_count(members[i], "status.active");
    if (members[i] && sched_cond_is(members[i], "Complete", "True")) complete++;
  }
  /* startTime is set once and never moved (the apiserver refuses a change). */
  if (!start) start = sched_time(members, n, "status.startTime", 1);

  /* Conditions the federation does not decide (Suspended, ...) and terminal ones already written stay. */
  for (size_t i = 0;
       prev_conds && json_object_is_type(prev_conds, json_type_array) && i < json_object_array_length(prev_conds);
       i++) {
    json_object *c = json_object_array_get_idx(prev_conds, i);
    const char *t = kc_obj_str(c, "type");
    if (!was_finished && (kf_streq(t, "Complete") || kf_streq(t, "SuccessCriteriaMet") || kf_streq(t, "Failed") ||
                          kf_streq(t, "FailureTarget")))
      continue;
    kj_push(conds, json_object_get(c));
  }
  if (was_finished) {
    done = kc_obj_str(prev_status, "completionTime");
  } else if (failed) {
    const char *reason = kc_obj_str(failed, "reason") ? kc_obj_str(failed, "reason") : "MemberJobFailed";
    const char *msg = kc_obj_str(failed, "message") ? kc_obj_str(failed, "message") : "a member cluster's Job failed";
    /* Failed only after (here: with) FailureTarget, as the Job controller itself writes them. */
    kj_push(conds, sched_cond(prev, "FailureTarget", "True", reason, msg, "lastProbeTime", now));
    kj_push(conds, sched_cond(prev, "Failed", "True", reason, msg, "lastProbeTime", now));
    if (!start) start = now; /* a finished Job must have a startTime */
  } else if (n > 0 && complete == n) {
    const char *msg = "every member cluster's Job completed";
    kj_push(conds, sched_cond(prev, "SuccessCriteriaMet", "True", "CompletionsReached", msg, "lastProbeTime", now));
    kj_push(conds, sched_cond(prev, "Complete", "True", "CompletionsReached", msg, "lastProbeTime", now));
    if (!start) start = now;
    done = sched_time(members, n, "status.completionTime", 0);
    /* completionTime before startTime is refused; a member clock behind the first one is possible. */
    if (!done || strcmp(done, start) < 0) done = strcmp(now, start) < 0 ? start : now;
  }

  kj_str(st, "startTime", start);
  kj_str(st, "completionTime", done);
  kj_int(st, "active", was_finished || failed || (n > 0 && complete == n) ? 0 : active);
  kj_int(st, "succeeded", 0);
  kj_int(st, "failed", 0);
  {
    int64_t s = 0, f = 0;
    for (size_t i = 0; i < n; i++) {
      s += sched_count(members[i], "status.succeeded");
      f += sched_count(members[i], "status.failed");
    }
    kj_int(st, "succeeded", s);
    kj_int(st, "failed", f);
  }
  if (json_object_array_length(conds) > 0) kj_set(st, "conditions", conds);
  else json_object_put(conds);
  *changed = !sched_same(st, prev_status);
  return st;
}

/* ---- unschedulable pods ---- */

/* 1 when obj's ownerReferences name uid. */
static int sched_owned_by(json_object *obj, const char *uid) {
  json_object *refs = kc_obj_get(obj, "metadata.ownerReferences");
  size_t n = refs && json_object_is_type(refs, json_type_array) ? json_object_array_length(refs) : 0;
  for (size_t i = 0; uid && i < n; i++)
    if (kf_streq(kc_obj_str(json_object_array_get_idx(refs, i), "uid"), uid)) return 1;
  return 0;
}

int64_t sched_epoch(const char *t) {
  struct tm tm;
  const char *end;
  memset(&tm, 0, sizeof(tm));
  if (!t || !(end = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm))) return -1;
  return (int64_t)timegm(&tm);
}

void sched_unschedulable(json_object *pods, json_object *replicasets, const char *owner_uid, int64_t now,
                         int64_t *unschedulable, int64_t *next_s) {
  json_object *items = kc_obj_get(pods, "items"), *rs = kc_obj_get(replicasets, "items");
  size_t n = items && json_object_is_type(items, json_type_array) ? json_object_array_length(items) : 0;
  size_t nrs = rs && json_object_is_type(rs, json_type_array) ? json_object_array_length(rs) : 0;
  *unschedulable = 0;
  *next_s = -1;
  for (size_t i = 0; i < n; i++) {
    json_object *pod = json_object_array_get_idx(items, i), *c;
    int ours = sched_owned_by(pod, owner_uid);
    /* A Deployment owns its ReplicaSets, which own the pods. */
    for (size_t k = 0; !ours && k < nrs; k++) {
      json_object *r = json_object_array_get_idx(rs, k);
      ours = sched_owned_by(r, owner_uid) && sched_owned_by(pod, kc_obj_str(r, "metadata.uid"));
    }
    if (!ours || kf_streq(kc_obj_str(pod, "status.phase"), "Running")) continue;
    c = cond_find(pod, "PodScheduled");
    if (!c || !kf_streq(kc_obj_str(c, "status"), "False") || !kf_streq(kc_obj_str(c, "reason"), "Unschedulable"))
      continue;
    int64_t since = sched_epoch(kc_obj_str(c, "lastTransitionTime"));
    if (since < 0) continue;
    if (now - since > SCHED_UNSCHEDULABLE_S) (*unschedulable)++;
    else if (*next_s < 0 || since + SCHED_UNSCHEDULABLE_S + 1 - now < *next_s)
      *next_s = since + SCHED_UNSCHEDULABLE_S + 1 - now;
  }
}

/* ---- what a member runs: the planner's current ---- */

/* Whether a managedFields entry's fieldsV1 holds spec.replicas. */
static int sched_owns_replicas(json_object *entry) {
  json_object *spec = NULL, *fields = kc_obj_get(entry, "fieldsV1");
  return json_object_is_type(fields, json_type_object) && json_object_object_get_ex(fields, "f:spec", &spec) &&
         json_object_is_type(spec, json_type_object) && json_object_object_get_ex(spec, "f:replicas", NULL);
}

void sched_keep_replica_writers(json_object *meta, json_object *out) {
  json_object *mf = kc_obj_get(meta, "managedFields"), *writers = NULL;
  size_t n = json_object_is_type(mf, json_type_array) ? json_object_array_length(mf) : 0;
  for (size_t i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(mf, i);
    if (!sched_owns_replicas(e)) continue;
    json_object *w = kj_obj();
    kj_copy(w, "manager", kc_obj_get(e, "manager"));
    kj_copy(w, "time", kc_obj_get(e, "time"));
    if (!writers) writers = kj_arr();
    kj_push(writers, w);
  }
  if (writers) kj_set(out, SCHED_REPLICA_WRITERS, writers);
}

int64_t sched_current(json_object *copy, const char *manager, int64_t now) {
  if (!copy) return SCHED_NO_OBJECT;
  int64_t ready = sched_count(copy, "status.readyReplicas");
  json_object *writers = kc_obj_get(copy, SCHED_REPLICA_WRITERS);
  size_t n = json_object_is_type(writers, json_type_array) ? json_object_array_length(writers) : 0;
  for (size_t i = 0; manager && i < n; i++) {
    json_object *e = json_object_array_get_idx(writers, i);
    if (!kf_streq(kc_obj_str(e, "manager"), manager)) continue;
    int64_t at = sched_epoch(kc_obj_str(e, "time"));
    /* Ours and young; a member's clock ahead of ours by up to the grace counts as now. */
    if (at >= 0 && now - at <= SCHED_START_GRACE_S && at - now <= SCHED_START_GRACE_S)
      return sched_count(copy, "spec.replicas");
  }
  return ready;
}
