/* The scheduled types' part of a reconcile (issue 15): Deployments, ReplicaSets and StatefulSets
 * (replicas by v1's planner), Jobs (parallelism and completions), HorizontalPodAutoscalers (their
 * bounds), and the members' status summed back; the decisions are scheduling/'s pure functions,
 * this file feeds them from the caches and the members.
 *
 *   capacity   pending pods the member workload owns (ownerReferences), Unschedulable > 60 s
 *   HPAs       bounds over the members in name order, lent from idle member HPAs to busy or
 *              new ones; a member whose workload an HPA targets keeps its spec.replicas
 *   plan       the shares for one round, and each member's copy from them
 *   status     the summed status, written to the status subresource when it changes */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kf/cond.h>
#include <kf/kj.h>
#include <kf/log.h>

#include "propagation_internal.h"

/* ---- capacity: unschedulable pods (reference §4.3) ---- */

typedef struct cap_probe {
  prop_run *run;
  char *member, *uid;
  int64_t replicas; /* the copy's spec.replicas */
  json_object *pods, *rs;
  int pending, failed;
} cap_probe;

static void cap_probe_done(cap_probe *p) {
  prop_run *run = p->run;
  if (--p->pending > 0) return;
  if (!p->failed) {
    int64_t un, next;
    sched_unschedulable(p->pods, p->rs, p->uid, (int64_t)time(NULL), &un, &next);
    if (un > 0) {
      run->cap_members = kf_realloc(run->cap_members, (run->ncap + 1) * sizeof(char *));
      run->cap = kf_realloc(run->cap, (run->ncap + 1) * sizeof(int64_t));
      run->cap_members[run->ncap] = kf_strdup(p->member);
      run->cap[run->ncap++] = p->replicas > un ? p->replicas - un : 0;
    }
    /* A pod not yet past the mark: back when it is, so the overflow moves on time. */
    if (next >= 0 && (!run->requeue_ms || (uint64_t)next * 1000 < run->requeue_ms))
      run->requeue_ms = (uint64_t)next * 1000 + 200;
  }
  json_object_put(p->pods);
  json_object_put(p->rs);
  free(p->member);
  free(p->uid);
  free(p);
  prop_call_done(run);
}

static void on_cap_pods(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  cap_probe *p = data;
  (void)c;
  if (rc != 0) { /* capacity unknown this round: planned as if unbounded, as v1 on a failed list */
    KF_WARN("listing pods for unschedulable counts failed", "key", p->run->key, "member", p->member, "error", err->msg);
    p->failed = 1;
  } else p->pods = json_object_get(obj);
  cap_probe_done(p);
}

static void on_cap_rs(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  cap_probe *p = data;
  (void)c;
  if (rc != 0) {
    KF_WARN("listing replicasets for unschedulable counts failed", "key", p->run->key, "member", p->member, "error",
            err->msg);
    p->failed = 1;
  } else p->rs = json_object_get(obj);
  cap_probe_done(p);
}

/* Before planning: in each candidate member whose copy runs fewer pods ready than it asks for (v1
 * looked no further when they match), its pending pods, and for a Deployment its ReplicaSets, so
 * that the pods it owns are told from others with the same labels. Then place() again. */
int prop_sched_probe(prop_run *run, void (*again)(prop_run *run)) {
  prop_sync *s = run->s;
  prop_members *m = s->o.members;
  const prop_sched *ps = prop_sched_of(s->o.type);
  char *ns = NULL, *name = NULL;
  if (!ps || ps->kind == SCHED_KIND_JOB || run->probed) return 0;
  run->probed = 1;
  ctrl_split_key(run->key, &ns, &name);
  run->then = again;
  run->pending = 1;
  for (size_t i = 0; i < prop_members_len(m); i++) {
    const prop_member *pm = prop_members_at(m, i);
    member_watch *w = prop_watch_of(s, pm->name);
    if (!pm->ready || !pm->client || !prop_selector_match(run->sel, pm->labels) || prop_members_wait_ms(m, pm) || !w ||
        w->epoch != pm->epoch || !informer_has_synced(w->inf))
      continue;
    json_object *copy = informer_get_key(w->inf, run->key);
    int64_t want = copy && kc_obj_get(copy, "spec.replicas") ? sched_count(copy, "spec.replicas") : 0;
    const char *uid = kc_obj_str(copy, "metadata.uid");
    if (copy && uid && want > sched_count(copy, "status.readyReplicas")) {
      cap_probe *p = kf_calloc(1, sizeof(*p));
      kc_list_opts lo = {.field_selector = "status.phase=Pending"};
      p->run = run;
      p->member = kf_strdup(pm->name);
      p->uid = kf_strdup(uid);
      p->replicas = want;
      p->pending = 1;
      run->pending++;
      if (s->o.type->id == CM_DEPLOYMENTS) {
        p->pending++;
        if (kc_list(pm->client, &API_REPLICASETS, ns, NULL, on_cap_rs, p) != 0) {
          p->failed = 1;
          p->pending--;
        }
      }
      if (kc_list(pm->client, &API_PODS, ns, &lo, on_cap_pods, p) != 0) {
        p->failed = 1;
        cap_probe_done(p); /* the pods' count; a ReplicaSet list in flight ends it */
      }
    }
    json_object_put(copy);
  }
  free(ns);
  free(name);
  prop_call_done(run);
  return 1;
}

/* ---- HorizontalPodAutoscalers (reference §3.7) ---- */

/* A federated HPA's bounds over the members it is placed in (Ready, with a client, its own selector
 * matching), taken in name order (prop_members_at's): min[i]/max[i] for prop_members_at(i), 0/0 for
 * a member without a share. The HPA controller's own sync (key: the HPA's) reads each member's copy,
 * its bounds and status, for v1's later passes (bounds lent by idle members); -EAGAIN while a
 * member's cache lists; *rest_ms (when not NULL): when a member HPA's scale window ends, 0 if none
 * is inside one. A workload's sync (hpa_retain, key NULL) has no HPA caches: it divides as if no
 * member had the HPA yet. */
static int hpa_divide(prop_sync *s, json_object *hpa, const char *key, const prop_selector *sel, int64_t *min,
                      int64_t *max, uint64_t *rest_ms, kf_error *err) {
  prop_members *m = s->o.members;
  size_t n = prop_members_len(m), k = 0;
  size_t *idx = kf_calloc(n + 1, sizeof(*idx));
  int64_t *kmin = kf_calloc(n + 1, sizeof(*kmin)), *kmax = kf_calloc(n + 1, sizeof(*kmax));
  sched_hpa_member *have = kf_calloc(n + 1, sizeof(*have));
  int observed = key && s->o.type->id == CM_HPAS, rc = 0;
  json_object *lo = kc_obj_get(hpa, "spec.minReplicas"), *hi = kc_obj_get(hpa, "spec.maxReplicas");
  for (size_t i = 0; i < n; i++) {
    const prop_member *pm = prop_members_at(m, i);
    min[i] = max[i] = 0;
    if (!pm->ready || !pm->client || !prop_selector_match(sel, pm->labels)) continue;
    if (observed) {
      member_watch *w = prop_watch_of(s, pm->name);
      if (!w || w->epoch != pm->epoch || !informer_has_synced(w->inf)) {
        rc = -EAGAIN;
        break;
      }
      json_object *copy = informer_get_key(w->inf, key);
      have[k] = sched_hpa_member_of(copy);
      json_object_put(copy);
    }
    idx[k++] = i;
  }
  int64_t now = (int64_t)time(NULL), rest = observed && rc == 0 ? sched_hpa_next_rest(have, k, now) : -1;
  if (rest_ms) *rest_ms = rest >= 0 ? (uint64_t)rest * 1000 + 200 : 0;
  if (rc == 0)
    rc = sched_hpa_divide(lo && json_object_is_type(lo, json_type_int) ? json_object_get_int64(lo) : 1,
                          hi && json_object_is_type(hi, json_type_int) ? json_object_get_int64(hi) : 0,
                          observed ? have : NULL, k, now, kmin, kmax, err);
  for (size_t j = 0; rc == 0 && j < k; j++) {
    min[idx[j]] = kmin[j];
    max[idx[j]] = kmax[j];
  }
  free(idx);
  free(kmin);
  free(kmax);
  free(have);
  return rc;
}

/* A federated HPA's scaleTargetRef names a workload of type t in its namespace: that key. */
static char *hpa_target_key(json_object *hpa, void *data) {
  prop_sync *s = data;
  const char *kind = kc_obj_str(hpa, "spec.scaleTargetRef.kind"), *name = kc_obj_str(hpa, "spec.scaleTargetRef.name"),
             *ns = kc_obj_str(hpa, "metadata.namespace");
  if (!kf_streq(kind, s->o.type->res->kind) || !name || !ns) return NULL;
  return kf_asprintf("%s/%s", ns, name);
}

typedef struct hpa_scan {
  prop_run *run;
  int64_t *share;
} hpa_scan;

/* While an HPA targets the workload in a member, that member's spec.replicas is the HPA's: the copy
 * keeps what it has (KubeFed v2's retained replicas; kubefed #570: v1 reset it every sync). */
static void hpa_retain(json_object *hpa, void *data) {
  hpa_scan *h = data;
  prop_run *run = h->run;
  prop_sync *s = run->s;
  char *key = hpa_target_key(hpa, s);
  int ours = key && !strcmp(key, run->key);
  free(key);
  if (!ours) return;
  prop_selector *sel = NULL;
  kf_error err;
  kf_error_clear(&err);
  const char *text = kc_obj_key_str(kc_obj_get(hpa, "metadata.annotations"), PROP_ANNOTATION_SELECTOR);
  if (prop_selector_parse(text, &sel, &err) != 0) return; /* the HPA's own controller says so */
  size_t n = prop_members_len(s->o.members);
  int64_t *min = kf_calloc(n + 1, sizeof(*min)), *max = kf_calloc(n + 1, sizeof(*max));
  /* The HPA controller's record of where it put the HPA: its division reads the member HPAs, which
   * this sync does not watch, and may leave a member out (nothing to lend it yet) or take one out
   * (bounds shrunk) where the first split would place one. Until it has recorded a member, the
   * first split stands in for it. */
  const char *recorded = kc_obj_key_str(kc_obj_get(hpa, "metadata.annotations"), PROP_ANNOTATION_STATUS);
  json_object *states = recorded ? json_tokener_parse(recorded) : NULL;
  if (hpa_divide(s, hpa, NULL, sel, min, max, NULL, &err) == 0)
    for (size_t i = 0; i < n; i++) {
      const char *member = prop_members_at(s->o.members, i)->name;
      const char *state = kc_obj_key_str(states, member);
      int has = kf_streq(state, "Applied") || (max[i] > 0 && !kf_streq(state, "NotScheduled"));
      member_watch *w = prop_watch_of(s, member);
      json_object *copy = w && has && h->share[i] >= 0 ? informer_get_key(w->inf, run->key) : NULL;
      if (copy && kc_obj_get(copy, "spec.replicas")) h->share[i] = sched_count(copy, "spec.replicas");
      json_object_put(copy);
    }
  json_object_put(states);
  free(min);
  free(max);
  prop_selector_free(sel);
}

/* v1's GetSchedule (reference §4.3): the candidates are the Ready, selected members, each with the
 * replicas its own copy reports (sched_current: ready, or the share just written while it starts;
 * never a label query over pods: kubernetes#45673); share[i]
 * for prop_members_at(i) is plan + overflow, -1 for a member that is no candidate. A Job: share is
 * its parallelism there and completions[i] its completions (-1 unset; reference §3.8). -EAGAIN when
 * a candidate's cache has not listed yet: planning without its current replicas would move them. */
static int schedule(prop_run *run, int64_t **out, int64_t **out_completions) {
  prop_sync *s = run->s;
  prop_members *m = s->o.members;
  size_t n = prop_members_len(m), k = 0;
  sched_member *cand = kf_calloc(n + 1, sizeof(*cand));
  size_t *idx = kf_calloc(n + 1, sizeof(*idx));
  int64_t *plan = kf_calloc(n + 1, sizeof(*plan)), *overflow = kf_calloc(n + 1, sizeof(*overflow));
  int64_t *share = kf_calloc(n + 1, sizeof(*share)), *completions = kf_calloc(n + 1, sizeof(*completions));
  const char **names = kf_calloc(n + 1, sizeof(*names));
  int job = prop_sched_of(s->o.type)->kind == SCHED_KIND_JOB;
  json_object *replicas = kc_obj_get(run->obj, job ? "spec.parallelism" : "spec.replicas"),
              *comp = kc_obj_get(run->obj, "spec.completions");
  sched_prefs prefs;
  kf_error err;
  int rc = 0;
  int64_t now = (int64_t)time(NULL);
  kf_error_clear(&err);
  const char *ann = prop_sched_of(s->o.type)->preferences;
  const char *text = kc_obj_key_str(kc_obj_get(run->obj, "metadata.annotations"), ann);
  if (sched_prefs_parse(text, &prefs, &err) != 0) /* v1 only logged it */
    ev_emit(s->o.events, run->obj, "Warning", "InvalidPreferences", "Schedule",
            "%s: %s: scheduled by the default (every member, weight 1)", ann, err.msg);
  for (size_t i = 0; i < n && rc == 0; i++) {
    const prop_member *pm = prop_members_at(m, i);
    member_watch *w = prop_watch_of(s, pm->name);
    share[i] = completions[i] = -1;
    if (!pm->ready || !pm->client || !prop_selector_match(run->sel, pm->labels)) continue;
    if (!w || w->epoch != pm->epoch || !informer_has_synced(w->inf)) {
      rc = -EAGAIN;
      break;
    }
    json_object *copy = informer_get_key(w->inf, run->key);
    cand[k] = (sched_member){.name = pm->name,
                             .current = sched_current(copy, kc_client_field_manager(pm->client), now),
                             .capacity = SCHED_UNBOUNDED};
    for (size_t c = 0; c < run->ncap; c++)
      if (!strcmp(run->cap_members[c], pm->name)) cand[k].capacity = run->cap[c];
    json_object_put(copy);
    names[k] = pm->name;
    idx[k++] = i;
  }
  /* The apiserver defaults spec.replicas (spec.parallelism) to 1 and keeps it an int32. */
  int64_t total = replicas && json_object_is_type(replicas, json_type_int) ? json_object_get_int64(replicas) : 1;
  if (rc == 0 && job) {
    int64_t c = comp && json_object_is_type(comp, json_type_int) ? json_object_get_int64(comp) : -1;
    rc = sched_job_divide(&prefs, total, c, names, k, run->key, plan, overflow, &err);
    for (size_t j = 0; rc == 0 && j < k; j++) {
      share[idx[j]] = plan[j];
      completions[idx[j]] = overflow[j];
    }
  } else if (rc == 0) {
    rc = sched_plan(&prefs, total, cand, k, run->key, plan, overflow, &err);
    for (size_t j = 0; rc == 0 && j < k; j++) share[idx[j]] = plan[j] + overflow[j];
    if (rc == 0 && s->hpa_inf) informer_foreach(s->hpa_inf, hpa_retain, &(hpa_scan){run, share});
  }
  if (rc != 0 && rc != -EAGAIN) ev_emit(s->o.events, run->obj, "Warning", "ScheduleFailed", "Schedule", "%s", err.msg);
  sched_prefs_free(&prefs);
  free(names);
  free(cand);
  free(idx);
  free(plan);
  free(overflow);
  if (rc != 0) {
    free(share);
    free(completions);
  } else {
    *out = share;
    *out_completions = completions;
  }
  return rc;
}

static void scheduled_add(prop_run *run, const char *member) {
  run->scheduled = kf_realloc(run->scheduled, (run->nscheduled + 1) * sizeof(char *));
  run->scheduled[run->nscheduled++] = kf_strdup(member);
}

/* Whether member gets a write for its share. Deployments and the like: always (0 replicas
 * included). A Job: only with a share of its parallelism (v1 created none for 0), and never a
 * write that would change a member Job's completions, which its apiserver refuses: v1 retried
 * that update every 10 s; a Warning says the split changed instead. */
static int job_share(prop_run *run, const char *member, member_watch *w, int64_t parallelism, int64_t completions) {
  prop_sync *s = run->s;
  if (prop_sched_of(s->o.type)->kind != SCHED_KIND_JOB) return 1;
  json_object *copy = informer_get_key(w->inf, run->key);
  json_object *have = kc_obj_get(copy, "spec.completions");
  int64_t had = have ? json_object_get_int64(have) : -1;
  int ok = 1;
  if (copy && parallelism <= 0) scheduled_add(run, member); /* it runs and counts, whatever its share now */
  if (!copy && parallelism <= 0) {
    prop_state_set(run, member, "NotScheduled");
    ok = 0;
  } else if (copy && had != completions) {
    ev_emit(s->o.events, run->obj, "Warning", "ImmutableInCluster", "Update",
            "Job %s in cluster %s has completions %lld, its share is now %lld: a Job's completions cannot change, "
            "it is left as it is",
            kc_obj_str(run->obj, "metadata.name"), member, (long long)had, (long long)completions);
    prop_state_setf(run, member, "Failed: its share of completions changed to %lld (immutable in the member)",
                    (long long)completions);
    ok = 0;
  }
  json_object_put(copy);
  return ok;
}

/* ---- plan ---- */

int prop_sched_plan(prop_run *run, prop_plan *p) {
  prop_sync *s = run->s;
  prop_members *m = s->o.members;
  const prop_sched *ps = prop_sched_of(s->o.type);
  memset(p, 0, sizeof(*p));
  if (ps) {
    int rc = schedule(run, &p->share, &p->completions);
    if (rc == -EAGAIN) { /* a member cache is listing: back in a moment, nothing moved meanwhile */
      run->unsynced = 1;
      run->requeue_ms = 500;
    }
    if (rc != 0) {
      run->rc = rc == -EAGAIN ? 0 : rc;
      prop_finish(run);
      return rc;
    }
    /* Summed over: every candidate (a Job: with a share), answering this round or not. */
    for (size_t i = 0; i < prop_members_len(m); i++)
      if (ps->kind == SCHED_KIND_JOB ? p->share[i] > 0 : p->share[i] >= 0)
        scheduled_add(run, prop_members_at(m, i)->name);
  } else if (s->o.type->id == CM_HPAS) {
    kf_error err;
    kf_error_clear(&err);
    p->hmin = kf_calloc(prop_members_len(m) + 1, sizeof(*p->hmin));
    p->hmax = kf_calloc(prop_members_len(m) + 1, sizeof(*p->hmax));
    uint64_t rest_ms = 0;
    int rc = hpa_divide(s, run->obj, run->key, run->sel, p->hmin, p->hmax, &rest_ms, &err);
    /* A member HPA's scale window ends: it may lend or borrow from then on, and says nothing. */
    if (rest_ms && (!run->requeue_ms || rest_ms < run->requeue_ms)) run->requeue_ms = rest_ms;
    if (rc == -EAGAIN) { /* a member cache is listing: its HPA's bounds count, back in a moment */
      run->unsynced = 1;
      run->requeue_ms = 500;
    } else if (rc != 0) {
      ev_emit(s->o.events, run->obj, "Warning", "ScheduleFailed", "Schedule", "%s", err.msg);
    }
    if (rc != 0) {
      prop_plan_free(p);
      run->rc = rc == -EAGAIN ? 0 : -EINVAL;
      prop_finish(run);
      return rc;
    }
  }
  return 0;
}

int prop_sched_desired(prop_run *run, const prop_plan *p, size_t i, member_watch *w, json_object **out) {
  prop_sync *s = run->s;
  const prop_member *pm = prop_members_at(s->o.members, i);
  const prop_sched *ps = prop_sched_of(s->o.type);
  *out = NULL;
  if (p->hmax) {
    if (p->hmax[i] <= 0) { /* v1 deleted the HPA of a member left without a share */
      prop_state_set(run, pm->name, "NotScheduled");
      return -1;
    }
    *out = prop_desired_hpa(s->o.type, run->obj, s->uid, p->hmin[i], p->hmax[i]);
  } else if (p->share && ps->kind == SCHED_KIND_JOB) {
    if (!job_share(run, pm->name, w, p->share[i], p->completions[i])) return 0;
    *out = prop_desired_job(s->o.type, run->obj, s->uid, p->share[i], p->completions[i]);
  } else if (p->share) { /* members planned 0 get the object with 0 replicas: status and scale-up need no create */
    *out = prop_desired_replicas(s->o.type, run->obj, s->uid, p->share[i] < 0 ? 0 : p->share[i]);
  }
  return 1;
}

void prop_plan_free(prop_plan *p) {
  free(p->share);
  free(p->completions);
  free(p->hmin);
  free(p->hmax);
  memset(p, 0, sizeof(*p));
}

void prop_sched_watch(prop_sync *s) {
  const prop_sched *ps = prop_sched_of(s->o.type);
  const prop_type *hpa = prop_type_of(CM_HPAS);
  int rc;
  /* With the HPA controller off no member has the HPA: the planner's replicas stand. */
  if (!s->o.propagate || !s->o.hpas || !ps || ps->kind == SCHED_KIND_JOB || !hpa) return;
  /* The HPA controller's own informer (same options): one watch in the federation API. */
  informer_opts ho = {.res = hpa->res, .transform = prop_set_kind, .transform_data = (void *)hpa};
  s->hpa_inf = informer_factory_get(s->o.informers, s->o.fed, &ho, &rc);
  if (s->hpa_inf) ctrl_watch(s->c, s->hpa_inf, hpa_target_key, s);
}

/* ---- status ---- */

static void on_sums_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  prop_run *run = data;
  (void)c;
  if (rc != 0) {
    KF_WARN("writing the summed workload status failed", "key", run->key, "error", err->msg);
    run->rc = rc;
  } else {
    informer_update_cache(run->s->fed_inf, obj); /* the next reconcile compares with what we wrote */
  }
  run->then(run);
}

/* Scheduled workloads: the members' status summed (scheduling/status.c) over the members the
 * planner placed it in (a Job: those with a share of its parallelism). A member whose copy was not
 * applied this round counts as not there yet (its status may describe an older spec), except a
 * Job's: one left on an older split still runs and counts. Written to the status subresource when
 * it changes. */
void prop_sched_write_status(prop_run *run, void (*next)(prop_run *run)) {
  prop_sync *s = run->s;
  const prop_sched *ps = prop_sched_of(s->o.type);
  json_object **copies = kf_calloc(run->nscheduled + 1, sizeof(json_object *));
  size_t n = run->nscheduled;
  for (size_t i = 0; i < n; i++) {
    member_watch *w = prop_watch_of(s, run->scheduled[i]);
    int applied = ps->kind == SCHED_KIND_JOB;
    for (size_t k = 0; k < run->n; k++)
      if (!strcmp(run->states[k].member, run->scheduled[i]) && !strcmp(run->states[k].state, "Applied")) applied = 1;
    copies[i] = w && applied ? informer_get_key(w->inf, run->key) : NULL;
  }
  char *now = cond_rfc3339(time(NULL));
  int changed = 0;
  json_object *st = sched_workload_status(ps->kind, run->obj, copies, n, now, &changed);
  for (size_t i = 0; i < n; i++) json_object_put(copies[i]);
  free(copies);
  free(now);
  run->then = next;
  if (!st || !changed) {
    json_object_put(st);
    next(run);
    return;
  }
  json_object *patch = kj_set(kj_obj(), "status", st);
  int rc = kc_patch(s->o.fed, s->o.type->res, kc_obj_str(run->obj, "metadata.namespace"),
                    kc_obj_str(run->obj, "metadata.name"), KC_PATCH_MERGE, patch, "status", on_sums_written, run);
  json_object_put(patch);
  if (rc != 0) {
    run->rc = rc;
    next(run);
  }
}
