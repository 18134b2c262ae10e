/* One sync controller per propagated type (kubefed v1's generic sync controller, reference §2.3),
 * level-based from caches:
 *
 *   watches    the type in the federation API (shared informer) and, per member with a client,
 *              our copies there (label kubefed.dev/propagated-by=<Federation UID>); a member
 *              change re-places every object at once (v1 waited for each object's next sync)
 *   reconcile  finalizers -> for each member: not Ready / not selected (delete our copy) /
 *              apply-if-differs (a same-named object without our label is a conflict unless the
 *              federated object says adopt) -> the status annotation, written when it changes
 *   off        with the type off (--controllers NAME=false) only deletions are handled, so no
 *              object ever hangs on a finalizer nothing removes */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include <kf/apply.h>
#include <kf/cond.h>
#include <kf/kj.h>
#include <kf/log.h>

#include "propagation_internal.h"

/* ---- bookkeeping ---- */

static const char *keep(prop_run *run, char *text) {
  run->owned = kf_realloc(run->owned, (run->nowned + 1) * sizeof(char *));
  return run->owned[run->nowned++] = text;
}

void prop_state_set(prop_run *run, const char *member, const char *state) {
  for (size_t i = 0; i < run->n; i++)
    if (strcmp(run->states[i].member, member) == 0) {
      run->states[i].state = state;
      return;
    }
  run->states = kf_realloc(run->states, (run->n + 1) * sizeof(prop_state));
  run->states[run->n++] = (prop_state){keep(run, kf_strdup(member)), state};
}

void prop_state_setf(prop_run *run, const char *member, const char *fmt, ...) {
  va_list ap;
  char buf[512];
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  prop_state_set(run, member, keep(run, kf_strdup(buf)));
}

member_watch *prop_watch_of(prop_sync *s, const char *member) {
  for (size_t i = 0; i < s->nmw; i++)
    if (strcmp(s->mw[i]->name, member) == 0) return s->mw[i];
  return NULL;
}

void prop_metric(prop_sync *s, const char *member, const char *result) {
  if (!s->o.metrics) return;
  char labels[512];
  snprintf(labels, sizeof(labels), "type=\"%s\",cluster=\"%s\",result=\"%s\"", s->o.type->res->resource, member,
           result);
  kf_metrics_add(s->o.metrics, "propagations_total", "Writes to members by type, member and result", labels, 1);
}

static void maybe_free(prop_sync *s) {
  if (!s->closing || s->active) return;
  void (*closed)(void *) = s->closed;
  void *arg = s->closed_arg;
  for (size_t i = 0; i < s->nmw; i++) {
    informer_close(s->mw[i]->inf);
    free(s->mw[i]->name);
    free(s->mw[i]);
  }
  free(s->mw);
  ctrl_close(s->c);
  free(s->uid);
  free(s->selector);
  free(s);
  if (closed) closed(arg);
}

void prop_finish(prop_run *run) {
  prop_sync *s = run->s;
  ctrl_done(s->c, run->key, run->rc, run->rc ? 0 : run->requeue_ms);
  for (size_t i = 0; i < run->nowned; i++) free(run->owned[i]);
  free(run->owned);
  free(run->states);
  for (size_t i = 0; i < run->nscheduled; i++) free(run->scheduled[i]);
  free(run->scheduled);
  for (size_t i = 0; i < run->ncap; i++) free(run->cap_members[i]);
  free(run->cap_members);
  free(run->cap);
  prop_selector_free(run->sel);
  free(run->waiting);
  json_object_put(run->obj);
  free(run->key);
  free(run);
  s->active--;
  maybe_free(s);
}

void prop_call_done(prop_run *run) {
  if (--run->pending == 0 && run->then) run->then(run);
}

/* ---- status ---- */

static void on_status_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  prop_run *run = data;
  (void)c;
  if (rc != 0) {
    KF_WARN("writing the propagation status failed", "key", run->key, "error", err->msg);
    run->rc = rc;
  } else {
    informer_update_cache(run->s->fed_inf, obj); /* the next reconcile must not write it again */
  }
  prop_finish(run);
}

static void write_annotation(prop_run *run);

static void on_lb_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  prop_run *run = data;
  (void)c, (void)obj;
  if (rc != 0) {
    KF_WARN("writing the load balancer status failed", "key", run->key, "error", err->msg);
    run->rc = rc;
  }
  write_annotation(run);
}

static void on_sums_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  prop_run *run = data;
  (void)c;
  if (rc != 0) {
    KF_WARN("writing the summed workload status failed", "key", run->key, "error", err->msg);
    run->rc = rc;
  } else {
    informer_update_cache(run->s->fed_inf, obj); /* the next reconcile compares with what we wrote */
  }
  write_annotation(run);
}

/* Scheduled workloads: the members' status summed (scheduling/status.c) over the members the
 * planner placed it in (a Job: those with a share of its parallelism). A member whose copy was not
 * applied this round counts as not there yet (its status may describe an older spec), except a
 * Job's: one left on an older split still runs and counts. Written to the status subresource when
 * it changes. */
static void write_sums(prop_run *run) {
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
  if (!st || !changed) {
    json_object_put(st);
    write_annotation(run);
    return;
  }
  json_object *patch = kj_set(kj_obj(), "status", st);
  int rc = kc_patch(s->o.fed, s->o.type->res, kc_obj_str(run->obj, "metadata.namespace"),
                    kc_obj_str(run->obj, "metadata.name"), KC_PATCH_MERGE, patch, "status", on_sums_written, run);
  json_object_put(patch);
  if (rc != 0) {
    run->rc = rc;
    write_annotation(run);
  }
}

/* Ingresses: status.loadBalancer.ingress is the sorted union of the selected members' (their
 * copies as cached), written to the status subresource when it differs. */
static void write_status(prop_run *run) {
  prop_sync *s = run->s;
  if (run->unsynced || !run->obj) {
    prop_finish(run);
    return;
  }
  if (prop_sched_of(s->o.type) && run->sel) { /* placed (even nowhere): the sums follow */
    write_sums(run);
    return;
  }
  if (!s->o.type->lb_status_union) {
    write_annotation(run);
    return;
  }
  json_object **copies = kf_calloc(s->nmw + 1, sizeof(json_object *));
  size_t n = 0;
  for (size_t i = 0; i < run->n; i++) {
    member_watch *w = prop_watch_of(s, run->states[i].member);
    if (w && strcmp(run->states[i].state, "Applied") == 0) copies[n++] = informer_get_key(w->inf, run->key);
  }
  json_object *want = prop_lb_union(copies, n), *have = kc_obj_get(run->obj, "status.loadBalancer.ingress");
  for (size_t i = 0; i < n; i++) json_object_put(copies[i]);
  free(copies);
  size_t have_n = json_object_is_type(have, json_type_array) ? json_object_array_length(have) : 0;
  if ((have_n == 0 && json_object_array_length(want) == 0) || (have && json_object_equal(want, have))) {
    json_object_put(want);
    write_annotation(run);
    return;
  }
  json_object *patch = kj_set(kj_obj(), "status", kj_set(kj_obj(), "loadBalancer", kj_set(kj_obj(), "ingress", want)));
  int rc = kc_patch(s->o.fed, s->o.type->res, kc_obj_str(run->obj, "metadata.namespace"),
                    kc_obj_str(run->obj, "metadata.name"), KC_PATCH_MERGE, patch, "status", on_lb_written, run);
  json_object_put(patch);
  if (rc != 0) {
    run->rc = rc;
    write_annotation(run);
  }
}

static void write_annotation(prop_run *run) {
  prop_sync *s = run->s;
  char *text = prop_status_text(run->states, run->n);
  const char *now = kc_obj_key_str(kc_obj_get(run->obj, "metadata.annotations"), PROP_ANNOTATION_STATUS);
  if (now && strcmp(now, text) == 0) {
    free(text);
    prop_finish(run);
    return;
  }
  json_object *patch = kj_obj(), *meta = kj_obj();
  kj_set(meta, "annotations", kj_str(kj_obj(), PROP_ANNOTATION_STATUS, text));
  kj_set(patch, "metadata", meta);
  free(text);
  const kc_resource *res = s->o.type->res;
  int rc = kc_patch(s->o.fed, res, kc_obj_str(run->obj, "metadata.namespace"), kc_obj_str(run->obj, "metadata.name"),
                    KC_PATCH_MERGE, patch, NULL, on_status_written, run);
  json_object_put(patch);
  if (rc != 0) {
    run->rc = rc;
    prop_finish(run);
  }
}

/* ---- one member ---- */

typedef struct member_op {
  prop_run *run;
  char *member;
  kc_client *client;
  unsigned epoch;       /* of the member's watch when the op started: a newer one is not ours */
  json_object *desired; /* kept for the retry after creating the namespace */
  int existed, ns_created;
  int reclaim; /* an unlabelled object that carries our hash: ours, its label removed by somebody */
} member_op;

static void op_free(member_op *op) {
  if (op->desired) kj_put_wiped(op->desired);
  free(op->member);
  free(op);
}

static void apply_copy(member_op *op);

static void on_namespace(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  member_op *op = data;
  (void)c, (void)obj;
  if (rc != 0 && rc != KC_ERR_EXISTS) { /* 409: it exists (somebody was quicker) */
    prop_state_setf(op->run, op->member, "Failed: creating namespace: %s", err->msg);
    op->run->rc = -EAGAIN;
    prop_run *run = op->run;
    op_free(op);
    prop_call_done(run);
    return;
  }
  apply_copy(op);
}

static void conflict(member_op *op) {
  prop_run *run = op->run;
  prop_sync *s = run->s;
  prop_state_set(run, op->member, "ConflictInCluster");
  ev_emit(s->o.events, run->obj, "Warning", "ConflictInCluster", "Create",
          "%s %s exists in cluster %s and was not made by this federation: left alone (annotate the federated "
          "object %s: adopt to take it over)",
          s->o.type->res->kind, kc_obj_str(run->obj, "metadata.name"), op->member, PROP_ANNOTATION_CONFLICT);
  prop_metric(s, op->member, "conflict");
}

static void on_reclaim_read(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data);

static void on_applied(const apply_result *r, void *data) {
  member_op *op = data;
  prop_run *run = op->run;
  prop_sync *s = run->s;
  const char *kind = s->o.type->res->kind, *name = kc_obj_str(run->obj, "metadata.name");
  if (r->rc == KC_ERR_NOTFOUND && r->step && strcmp(r->step, "write") == 0 && s->o.type->res->namespaced &&
      !op->ns_created) {
    /* "A namespaced object's namespace is created in a member when missing." */
    op->ns_created = 1;
    json_object *ns = kj_obj();
    kj_str(ns, "apiVersion", "v1");
    kj_str(ns, "kind", "Namespace");
    kj_set(ns, "metadata", kj_str(kj_obj(), "name", kc_obj_str(op->desired, "metadata.namespace")));
    int rc = kc_create(op->client, &KC_NAMESPACES, NULL, ns, on_namespace, op);
    json_object_put(ns);
    if (rc == 0) return;
  }
  if (r->rc == 0) {
    prop_state_set(run, op->member, "Applied");
    if (r->wrote) {
      member_watch *w = prop_watch_of(s, op->member);
      if (r->live && w && w->epoch == op->epoch) informer_update_cache(w->inf, r->live);
      ev_emit(s->o.events, run->obj, "Normal", op->existed ? "UpdateInCluster" : "CreateInCluster",
              op->existed ? "Update" : "Create", "%s %s %s in cluster %s", op->existed ? "Updated" : "Created", kind,
              name, op->member);
      prop_metric(s, op->member, op->existed ? "updated" : "created");
    }
  } else if (r->rc == APPLY_ERR_NOT_OURS && !op->reclaim) {
    /* Ours once, if it carries our hash: somebody removed our label in the member. Drift in a field
     * we own, restored like any other; an object that never was ours is a conflict. */
    char *ns = NULL, *obj_name = NULL;
    ctrl_split_key(run->key, &ns, &obj_name);
    op->reclaim = 1;
    int rc = kc_get(op->client, s->o.type->res, ns, obj_name, on_reclaim_read, op);
    free(ns);
    free(obj_name);
    if (rc == 0) return;
    conflict(op);
  } else if (r->rc == APPLY_ERR_NOT_OURS) {
    conflict(op);
  } else {
    prop_state_setf(run, op->member, "Failed: %s", r->err->msg);
    prop_members_quiet(s->o.members, op->member, r->rc);
    ev_emit(s->o.events, run->obj, "Warning", op->existed ? "UpdateInClusterFailed" : "CreateInClusterFailed",
            op->existed ? "Update" : "Create", "Failed to %s %s %s in cluster %s: %s",
            op->existed ? "update" : "create", kind, name, op->member, r->err->msg);
    prop_metric(s, op->member, "failed");
    run->rc = r->rc;
  }
  op_free(op);
  prop_call_done(run);
}

static int adopting(json_object *obj) {
  const char *v = kc_obj_key_str(kc_obj_get(obj, "metadata.annotations"), PROP_ANNOTATION_CONFLICT);
  return v && strcmp(v, "adopt") == 0;
}

static void apply_copy(member_op *op) {
  prop_run *run = op->run;
  member_watch *w = prop_watch_of(run->s, op->member);
  apply_opts ao = {.client = op->client,
                   .res = run->s->o.type->res,
                   .cache = w && w->epoch == op->epoch ? w->inf : NULL,
                   .owner_labels = adopting(run->obj) || op->reclaim ? NULL : run->s->owner};
  /* apply_ensure wipes what it is given (a desired Secret carries keys): each call its own copy. */
  json_object *desired = NULL;
  json_object_deep_copy(op->desired, &desired, NULL);
  if (apply_ensure(&ao, desired, on_applied, op) != 0) {
    prop_state_set(run, op->member, "Failed: the object has no name");
    run->rc = -EINVAL;
    op_free(op);
    prop_call_done(run);
  }
}

static void on_reclaim_read(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  member_op *op = data;
  prop_run *run = op->run;
  (void)c, (void)err;
  if (rc == 0 && kc_obj_key_str(kc_obj_get(obj, "metadata.annotations"), PROP_ANNOTATION_HASH)) {
    apply_copy(op); /* op->reclaim: without the ownership check */
    return;
  }
  conflict(op);
  op_free(op);
  prop_call_done(run);
}

static void on_removed(const apply_result *r, void *data) {
  member_op *op = data;
  prop_run *run = op->run;
  prop_sync *s = run->s;
  if (r->rc != 0) {
    prop_state_setf(run, op->member, "Failed: %s", r->err->msg);
    prop_members_quiet(s->o.members, op->member, r->rc);
    ev_emit(s->o.events, run->obj, "Warning", "DeleteInClusterFailed", "Delete",
            "Failed to delete %s %s in cluster %s: %s", s->o.type->res->kind, kc_obj_str(run->obj, "metadata.name"),
            op->member, r->err->msg);
    prop_metric(s, op->member, "failed");
    run->rc = r->rc;
  } else if (r->wrote) {
    ev_emit(s->o.events, run->obj, "Normal", "DeleteInCluster", "Delete", "Deleted %s %s in cluster %s",
            s->o.type->res->kind, kc_obj_str(run->obj, "metadata.name"), op->member);
    prop_metric(s, op->member, "deleted");
  }
  op_free(op);
  prop_call_done(run);
}

int prop_remove_copy(prop_run *run, const prop_member *pm, member_watch *w) {
  json_object *copy = informer_get_key(w->inf, run->key);
  /* A copy the member is deleting (a namespace emptying itself) is as good as gone. */
  int deleting = copy && kc_obj_get(copy, "metadata.deletionTimestamp");
  json_object_put(copy);
  if (!copy || deleting) return 0;
  member_op *op = kf_calloc(1, sizeof(*op));
  op->run = run;
  op->member = kf_strdup(pm->name);
  op->client = pm->client;
  op->epoch = w->epoch;
  apply_opts ao = {.client = pm->client, .res = run->s->o.type->res, .cache = w->inf, .owner_labels = run->s->owner};
  char *ns = NULL, *name = NULL;
  ctrl_split_key(run->key, &ns, &name);
  run->pending++;
  int rc = apply_delete(&ao, ns, name, on_removed, op);
  free(ns);
  free(name);
  if (rc != 0) {
    run->pending--;
    op_free(op);
    return 0;
  }
  return 1;
}

/* A member's cache is usable when its informer has listed. */
static member_watch *usable(prop_run *run, const prop_member *pm) {
  member_watch *w = prop_watch_of(run->s, pm->name);
  if (w && w->epoch == pm->epoch && informer_has_synced(w->inf)) return w;
  run->unsynced = 1;
  run->requeue_ms = 500;
  return NULL;
}

/* A count from a member's status, as the planner takes it. */
static int64_t member_count(json_object *copy, const char *path) {
  json_object *v = kc_obj_get(copy, path);
  int64_t x = v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
  return x < 0 ? 0 : x > SCHED_MAX_VALUE ? SCHED_MAX_VALUE : x;
}

/* ---- capacity: unschedulable pods (reference §4.3) ---- */

typedef struct cap_probe {
  prop_run *run;
  char *member, *uid;
  int64_t replicas; /* the copy's spec.replicas */
  json_object *pods, *rs;
  int pending, failed;
} cap_probe;

static void place(prop_run *run);

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

static void probed(prop_run *run) {
  run->probed = 1;
  place(run);
}

/* Before planning: in each candidate member whose copy runs fewer pods ready than it asks for (v1
 * looked no further when they match), its pending pods, and for a Deployment its ReplicaSets, so
 * that the pods it owns are told from others with the same labels. Then place() again. */
static void probe_capacity(prop_run *run) {
  prop_sync *s = run->s;
  prop_members *m = s->o.members;
  char *ns = NULL, *name = NULL;
  ctrl_split_key(run->key, &ns, &name);
  run->then = probed;
  run->pending = 1;
  for (size_t i = 0; i < prop_members_len(m); i++) {
    const prop_member *pm = prop_members_at(m, i);
    member_watch *w = prop_watch_of(s, pm->name);
    if (!pm->ready || !pm->client || !prop_selector_match(run->sel, pm->labels) || prop_members_wait_ms(m, pm) || !w ||
        w->epoch != pm->epoch || !informer_has_synced(w->inf))
      continue;
    json_object *copy = informer_get_key(w->inf, run->key);
    int64_t want = copy && kc_obj_get(copy, "spec.replicas") ? member_count(copy, "spec.replicas") : 0;
    const char *uid = kc_obj_str(copy, "metadata.uid");
    if (copy && uid && want > member_count(copy, "status.readyReplicas")) {
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
}

/* ---- HorizontalPodAutoscalers (reference §3.7) ---- */

/* A federated HPA's bounds over the members it is placed in (Ready, with a client, its own selector
 * matching), taken in name order (prop_members_at's): min[i]/max[i] for prop_members_at(i), 0/0 for
 * a member without a share. */
static int hpa_divide(prop_sync *s, json_object *hpa, const prop_selector *sel, int64_t *min, int64_t *max,
                      kf_error *err) {
  prop_members *m = s->o.members;
  size_t n = prop_members_len(m), k = 0;
  size_t *idx = kf_calloc(n + 1, sizeof(*idx));
  int64_t *kmin = kf_calloc(n + 1, sizeof(*kmin)), *kmax = kf_calloc(n + 1, sizeof(*kmax));
  json_object *lo = kc_obj_get(hpa, "spec.minReplicas"), *hi = kc_obj_get(hpa, "spec.maxReplicas");
  for (size_t i = 0; i < n; i++) {
    const prop_member *pm = prop_members_at(m, i);
    min[i] = max[i] = 0;
    if (pm->ready && pm->client && prop_selector_match(sel, pm->labels)) idx[k++] = i;
  }
  int rc = sched_hpa_divide(lo && json_object_is_type(lo, json_type_int) ? json_object_get_int64(lo) : 1,
                            hi && json_object_is_type(hi, json_type_int) ? json_object_get_int64(hi) : 0, k, kmin, kmax,
                            err);
  for (size_t j = 0; rc == 0 && j < k; j++) {
    min[idx[j]] = kmin[j];
    max[idx[j]] = kmax[j];
  }
  free(idx);
  free(kmin);
  free(kmax);
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
  if (hpa_divide(s, hpa, sel, min, max, &err) == 0)
    for (size_t i = 0; i < n; i++) {
      member_watch *w = prop_watch_of(s, prop_members_at(s->o.members, i)->name);
      json_object *copy = w && max[i] > 0 && h->share[i] >= 0 ? informer_get_key(w->inf, run->key) : NULL;
      if (copy && kc_obj_get(copy, "spec.replicas")) h->share[i] = member_count(copy, "spec.replicas");
      json_object_put(copy);
    }
  free(min);
  free(max);
  prop_selector_free(sel);
}

/* v1's GetSchedule (reference §4.3): the candidates are the Ready, selected members, each with the
 * replicas its own copy reports ready (never a label query over pods: kubernetes#45673); share[i]
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
                             .current = copy ? member_count(copy, "status.readyReplicas") : SCHED_NO_OBJECT,
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

static void place(prop_run *run) {
  prop_sync *s = run->s;
  prop_members *m = s->o.members;
  int64_t *share = NULL, *completions = NULL;
  const prop_sched *ps = prop_sched_of(s->o.type);
  if (ps && ps->kind != SCHED_KIND_JOB && !run->probed) {
    probe_capacity(run);
    return;
  }
  if (ps) {
    int rc = schedule(run, &share, &completions);
    if (rc == -EAGAIN) { /* a member cache is listing: back in a moment, nothing moved meanwhile */
      run->unsynced = 1;
      run->requeue_ms = 500;
    }
    if (rc != 0) {
      run->rc = rc == -EAGAIN ? 0 : rc;
      prop_finish(run);
      return;
    }
    /* Summed over: every candidate (a Job: with a share), answering this round or not. */
    for (size_t i = 0; i < prop_members_len(m); i++)
      if (ps->kind == SCHED_KIND_JOB ? share[i] > 0 : share[i] >= 0) scheduled_add(run, prop_members_at(m, i)->name);
  }
  int64_t *hmin = NULL, *hmax = NULL;
  if (s->o.type->id == CM_HPAS) {
    kf_error err;
    kf_error_clear(&err);
    hmin = kf_calloc(prop_members_len(m) + 1, sizeof(*hmin));
    hmax = kf_calloc(prop_members_len(m) + 1, sizeof(*hmax));
    if (hpa_divide(s, run->obj, run->sel, hmin, hmax, &err) != 0) {
      ev_emit(s->o.events, run->obj, "Warning", "ScheduleFailed", "Schedule", "%s", err.msg);
      free(hmin);
      free(hmax);
      run->rc = -EINVAL;
      prop_finish(run);
      return;
    }
  }
  json_object *desired = prop_desired(s->o.type, run->obj, s->uid);
  run->then = write_status;
  run->pending = 1; /* this loop's own hold: nothing finishes before every call is started */
  for (size_t i = 0; i < prop_members_len(m); i++) {
    const prop_member *pm = prop_members_at(m, i);
    if (!pm->ready || !pm->client) {
      prop_state_setf(run, pm->name, "Failed: %s", pm->why_not ? pm->why_not : "Cluster is not Ready");
      continue;
    }
    uint64_t wait = prop_members_wait_ms(m, pm);
    if (wait) { /* it did not answer a moment ago: the others go on, this object comes back for it */
      prop_state_set(run, pm->name, "Failed: the member did not answer");
      if (!run->requeue_ms || wait < run->requeue_ms) run->requeue_ms = wait;
      continue;
    }
    member_watch *w = usable(run, pm);
    if (!w) continue;
    if (!prop_selector_match(run->sel, pm->labels)) {
      prop_state_set(run, pm->name, "NotSelected");
      prop_remove_copy(run, pm, w);
      continue;
    }
    if (share && !job_share(run, pm->name, w, share[i], completions[i])) continue;
    if (hmax && hmax[i] <= 0) { /* v1 deleted the HPA of a member left without a share */
      prop_state_set(run, pm->name, "NotScheduled");
      prop_remove_copy(run, pm, w);
      continue;
    }
    member_op *op = kf_calloc(1, sizeof(*op));
    op->run = run;
    op->member = kf_strdup(pm->name);
    op->client = pm->client;
    op->epoch = w->epoch;
    if (hmax) op->desired = prop_desired_hpa(s->o.type, run->obj, s->uid, hmin[i], hmax[i]);
    else if (share && ps->kind == SCHED_KIND_JOB)
      op->desired = prop_desired_job(s->o.type, run->obj, s->uid, share[i], completions[i]);
    else if (share) /* members planned 0 get the object with 0 replicas: status and scale-up need no create */
      op->desired = prop_desired_replicas(s->o.type, run->obj, s->uid, share[i] < 0 ? 0 : share[i]);
    else json_object_deep_copy(desired, &op->desired, NULL);
    json_object *cached = informer_get_key(w->inf, run->key);
    op->existed = cached != NULL;
    json_object_put(cached);
    run->pending++;
    apply_copy(op);
  }
  kj_put_wiped(desired);
  free(share);
  free(completions);
  free(hmin);
  free(hmax);
  prop_call_done(run);
}

static void on_finalizers(prop_run *run) {
  prop_sync *s = run->s;
  kf_error err;
  kf_error_clear(&err);
  const char *text = kc_obj_key_str(kc_obj_get(run->obj, "metadata.annotations"), PROP_ANNOTATION_SELECTOR);
  if (prop_selector_parse(text, &run->sel, &err) != 0) {
    /* v1 refused to propagate an object whose selector does not parse, and so do we: nothing is
     * created or deleted until it is fixed; retried with backoff. */
    ev_emit(s->o.events, run->obj, "Warning", "InvalidClusterSelector", "Place", "%s: %s", PROP_ANNOTATION_SELECTOR,
            err.msg);
    for (size_t i = 0; i < prop_members_len(s->o.members); i++)
      prop_state_setf(run, prop_members_at(s->o.members, i)->name, "Failed: invalid %s", PROP_ANNOTATION_SELECTOR);
    run->rc = -EINVAL;
    run->then = NULL;
    write_status(run);
    return;
  }
  place(run);
}

/* ---- the controller ---- */

static void reconcile(ctrl *c, const char *key, void *data) {
  prop_sync *s = data;
  (void)c;
  prop_run *run = kf_calloc(1, sizeof(*run));
  run->s = s;
  run->key = kf_strdup(key);
  s->active++;
  if (s->closing || !prop_sync_synced(s)) {
    run->requeue_ms = s->closing ? 0 : 200;
    prop_finish(run);
    return;
  }
  run->obj = informer_get_key(s->fed_inf, key);
  if (!run->obj) { /* gone: our finalizer saw to its copies first */
    prop_finish(run);
    return;
  }
  if (kc_obj_get(run->obj, "metadata.deletionTimestamp")) {
    prop_delete(run);
    return;
  }
  if (!s->o.propagate || prop_skip(s->o.type, run->obj)) {
    prop_finish(run);
    return;
  }
  run->then = on_finalizers;
  prop_ensure_finalizers(run);
}

/* A member came, went, changed labels or readiness, or got a new client: its watch follows, and
 * every object is placed again. */
static void on_member(prop_members *m, const char *name, void *data) {
  prop_sync *s = data;
  if (s->closing) return;
  const prop_member *pm = prop_members_get(m, name);
  member_watch *w = prop_watch_of(s, name);
  int want = s->o.propagate && pm && pm->client;
  if (w && (!want || w->epoch != pm->epoch)) {
    for (size_t i = 0; i < s->nmw; i++)
      if (s->mw[i] == w) s->mw[i] = s->mw[--s->nmw];
    informer_close(w->inf);
    free(w->name);
    free(w);
    w = NULL;
  }
  if (want && !w) {
    informer_opts io = {.res = s->o.type->res,
                        .label_selector = s->selector,
                        .transform = prop_transform,
                        .transform_data = (void *)s->o.type,
                        .list_from_cache = 1};
    informer_handlers h = ctrl_handlers(s->c, NULL, NULL);
    s->mw = kf_realloc(s->mw, (s->nmw + 1) * sizeof(member_watch *));
    w = s->mw[s->nmw++] = kf_calloc(1, sizeof(*w));
    w->name = kf_strdup(name);
    w->epoch = pm->epoch;
    w->inf = informer_new(pm->client, &io, &h);
    informer_set_metrics(w->inf, s->o.metrics);
    informer_start(w->inf);
  }
}

static void enqueue_obj(json_object *obj, void *data) {
  char *key = informer_key_of(obj);
  ctrl_enqueue(data, key);
  free(key);
}

static void on_member_replace(prop_members *m, const char *name, void *data) {
  prop_sync *s = data;
  on_member(m, name, data);
  if (!s->closing) informer_foreach(s->fed_inf, enqueue_obj, s->c);
}

prop_sync *prop_sync_new(uv_loop_t *loop, const prop_sync_opts *o) {
  prop_sync *s = kf_calloc(1, sizeof(*s));
  s->loop = loop;
  s->o = *o;
  s->uid = kf_strdup(o->uid);
  s->o.uid = s->uid;
  s->selector = kf_asprintf("%s=%s", PROP_LABEL_PROPAGATED_BY, o->uid);
  s->owner[0] = PROP_LABEL_PROPAGATED_BY;
  s->owner[1] = s->uid;
  ctrl_opts co = {.name = o->type->res->resource,
                  .reconcile = reconcile,
                  .data = s,
                  .metrics = o->metrics,
                  .workers = o->workers > 0 ? o->workers : 10};
  s->c = ctrl_new(loop, &co);
  informer_opts io = {.res = o->type->res, .transform = prop_set_kind, .transform_data = (void *)o->type};
  int rc;
  s->fed_inf = informer_factory_get(o->informers, o->fed, &io, &rc);
  ctrl_watch(s->c, s->fed_inf, NULL, NULL);
  const prop_sched *ps = prop_sched_of(o->type);
  const prop_type *hpa = prop_type_of(CM_HPAS);
  if (o->propagate && ps && ps->kind != SCHED_KIND_JOB && hpa) {
    /* The HPA controller's own informer (same options): one watch in the federation API. */
    informer_opts ho = {.res = hpa->res, .transform = prop_set_kind, .transform_data = (void *)hpa};
    s->hpa_inf = informer_factory_get(o->informers, o->fed, &ho, &rc);
    if (s->hpa_inf) ctrl_watch(s->c, s->hpa_inf, hpa_target_key, s);
  }
  prop_members_listen(o->members, on_member_replace, s);
  return s;
}

int prop_sync_synced(const prop_sync *s) {
  return informer_has_synced(s->fed_inf) && (!s->hpa_inf || informer_has_synced(s->hpa_inf)) &&
         prop_members_synced(s->o.members);
}

void prop_sync_start(prop_sync *s) { ctrl_start(s->c); }

void prop_sync_close(prop_sync *s, void (*closed)(void *arg), void *arg) {
  if (!s || s->closing) return;
  s->closing = 1;
  s->closed = closed;
  s->closed_arg = arg;
  for (size_t i = 0; i < s->nmw; i++) informer_pause(s->mw[i]->inf);
  maybe_free(s);
}
