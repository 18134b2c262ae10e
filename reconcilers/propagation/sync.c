/* One sync controller per propagated type (kubefed v1's generic sync controller, reference §2.3),
 * level-based from caches:
 *
 *   watches    the type in the federation API (shared informer) and, per member with a client,
 *              our copies there (label kubefed.dev/propagated-by=<Federation UID>); a member
 *              change re-places every object at once (v1 waited for each object's next sync)
 *   reconcile  for each member: not Ready / not selected (delete our copy) / apply-if-differs (a
 *              same-named object without our label is a conflict unless the federated object says
 *              adopt) -> the status annotation, written when it changes, with v1's finalizers in
 *              the same write the first time; one event per round names the members written
 *   sweep      an object gone from the federation API with copies still ours: they are deleted
 *   off        with the type off (--controllers NAME=false) only deletions are handled, so no
 *              object ever hangs on a finalizer nothing removes */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include <kf/apply.h>
#include <kf/buf.h>
#include <kf/cond.h>
#include <kf/kj.h>
#include <kf/log.h>

#include "propagation_internal.h"
#include "servicedns/servicedns.h"

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
    if (s->mw[i]->slices) informer_close(s->mw[i]->slices);
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

void prop_list_add(char **list, const char *item) {
  char *l = *list ? kf_asprintf("%s, %s", *list, item) : kf_strdup(item);
  free(*list);
  *list = l;
}

void prop_finish(prop_run *run) {
  prop_sync *s = run->s;
  const char *kind = s->o.type->res->kind, *name = kc_obj_str(run->obj, "metadata.name");
  /* One event per round, not per member: at 2 members they were half the federation API's writes. */
  if (run->created)
    ev_emit(s->o.events, run->obj, "Normal", "CreateInCluster", "Create", "Created %s %s in cluster(s) %s", kind, name,
            run->created);
  if (run->updated)
    ev_emit(s->o.events, run->obj, "Normal", "UpdateInCluster", "Update", "Updated %s %s in cluster(s) %s", kind, name,
            run->updated);
  free(run->created);
  free(run->updated);
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
  if (rc == KC_ERR_CONFLICT) { /* changed under us: read again soon */
    run->requeue_ms = 200;
  } else if (rc != 0) { /* also a failed test of the finalizers (422): retried with backoff */
    if (rc != KC_ERR_NOTFOUND) KF_WARN("writing the propagation status failed", "key", run->key, "error", err->msg);
    run->rc = rc == KC_ERR_NOTFOUND ? 0 : rc; /* deleted meanwhile: its copies are swept */
  } else {
    informer_update_cache(run->s->fed_inf, obj); /* the next reconcile must not write it again */
  }
  prop_finish(run);
}

static void write_annotation(prop_run *run);
static size_t metadata_ops(prop_run *run, json_object *ops);

/* The status write carried the metadata's ops too: what it returned is the object now, and
 * write_annotation writes only what an apiserver that kept metadata out of status left undone. */
static void on_lb_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  prop_run *run = data;
  (void)c;
  if (rc != 0) {
    on_status_written(c, rc, obj, err, data);
    return;
  }
  informer_update_cache(run->s->fed_inf, obj);
  json_object_put(run->obj);
  run->obj = json_object_get(obj);
  write_annotation(run);
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
    prop_sched_write_status(run, write_annotation);
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
  /* One write for both: a Service's status subresource takes metadata changes too (its strategy
   * keeps only the spec), which halves the federation API's writes per Service. */
  json_object *patch = kj_arr();
  metadata_ops(run, patch);
  kj_push(patch, kj_set(kj_str(kj_str(kj_obj(), "op", "add"), "path", "/status/loadBalancer"), "value",
                        kj_set(kj_obj(), "ingress", want)));
  int rc = kc_patch(s->o.fed, s->o.type->res, kc_obj_str(run->obj, "metadata.namespace"),
                    kc_obj_str(run->obj, "metadata.name"), KC_PATCH_JSON, patch, "status", on_lb_written, run);
  json_object_put(patch);
  if (rc != 0) {
    run->rc = rc;
    prop_finish(run);
  }
}

/* Appends to the JSON patch ops the setting of the annotations in set (an object it takes) on obj. */
static void annotations_ops(json_object *obj, json_object *set, json_object *ops) {
  json_object *now = kc_obj_get(obj, "metadata.annotations");
  if (!json_object_is_type(now, json_type_object)) {
    kj_push(ops, kj_set(kj_str(kj_str(kj_obj(), "op", "add"), "path", "/metadata/annotations"), "value", set));
    return;
  }
  json_object_object_foreach (set, k, v) {
    kf_buf path = {0}; /* a JSON pointer: "~" is "~0", "/" is "~1" */
    kf_buf_str(&path, "/metadata/annotations/");
    for (const char *p = k; *p; p++) {
      if (*p == '~') kf_buf_str(&path, "~0");
      else if (*p == '/') kf_buf_str(&path, "~1");
      else kf_buf_addc(&path, *p);
    }
    char *where = kf_buf_take(&path);
    kj_push(ops, kj_set(kj_str(kj_str(kj_obj(), "op", "add"), "path", where), "value", json_object_get(v)));
    free(where);
  }
  json_object_put(set);
}

/* Appends to the JSON patch ops what the federated object's metadata lacks: the status annotation
 * (for Services also kubefed v1's service-ingresses, the DNS controller's input) when it changed,
 * and v1's finalizers (deletion.c) the first time, tested as read so a concurrent change of the
 * list fails the write. Returns how many ops it appended. */
static size_t metadata_ops(prop_run *run, json_object *ops) {
  prop_sync *s = run->s;
  size_t before = json_object_array_length(ops);
  char *text = prop_status_text(run->states, run->n);
  json_object *anns = kc_obj_get(run->obj, "metadata.annotations");
  const char *now = kc_obj_key_str(anns, PROP_ANNOTATION_STATUS);
  char *ingresses = s->o.type->res == &KC_SERVICES ? prop_service_ingresses(run) : NULL;
  const char *ing_now = kc_obj_key_str(anns, SERVICEDNS_ANNOTATION);
  int ing_same = !ingresses || (ing_now && strcmp(ing_now, ingresses) == 0);
  prop_finalizer_ops(run->obj, PROP_FINALIZERS, NULL, ops);
  if (!now || strcmp(now, text) != 0 || !ing_same) {
    json_object *set = kj_str(kj_obj(), PROP_ANNOTATION_STATUS, text);
    if (!ing_same) kj_str(set, SERVICEDNS_ANNOTATION, ingresses);
    annotations_ops(run->obj, set, ops);
  }
  free(text);
  free(ingresses);
  return json_object_array_length(ops) - before;
}

/* One write to the federation API per change, of metadata_ops. */
static void write_annotation(prop_run *run) {
  prop_sync *s = run->s;
  json_object *patch = kj_arr();
  if (!metadata_ops(run, patch)) {
    json_object_put(patch);
    prop_finish(run);
    return;
  }
  int rc = kc_patch(s->o.fed, s->o.type->res, kc_obj_str(run->obj, "metadata.namespace"),
                    kc_obj_str(run->obj, "metadata.name"), KC_PATCH_JSON, patch, NULL, on_status_written, run);
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
      prop_list_add(op->existed ? &run->updated : &run->created, op->member);
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
    if (run->obj)
      ev_emit(s->o.events, run->obj, "Warning", "DeleteInClusterFailed", "Delete",
              "Failed to delete %s %s in cluster %s: %s", s->o.type->res->kind, kc_obj_str(run->obj, "metadata.name"),
              op->member, r->err->msg);
    else
      KF_WARN("deleting a copy whose federated object is gone failed", "key", run->key, "cluster", op->member, "error",
              r->err->msg);
    prop_metric(s, op->member, "failed");
    run->rc = r->rc;
  } else if (r->wrote) {
    if (run->obj)
      ev_emit(s->o.events, run->obj, "Normal", "DeleteInCluster", "Delete", "Deleted %s %s in cluster %s",
              s->o.type->res->kind, kc_obj_str(run->obj, "metadata.name"), op->member);
    else /* swept: no object to attach an event to */
      KF_INFO("deleted a copy whose federated object is gone", "key", run->key, "cluster", op->member);
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

static void place(prop_run *run) {
  prop_sync *s = run->s;
  prop_members *m = s->o.members;
  prop_plan plan;
  /* Scheduled types (scheduled.c): unschedulable pods counted first, then each member's share. */
  if (prop_sched_probe(run, place) || prop_sched_plan(run, &plan) != 0) return;
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
    json_object *share = NULL;
    int write = prop_sched_desired(run, &plan, i, w, &share);
    if (write < 0) prop_remove_copy(run, pm, w);
    if (write <= 0) continue;
    member_op *op = kf_calloc(1, sizeof(*op));
    op->run = run;
    op->member = kf_strdup(pm->name);
    op->client = pm->client;
    op->epoch = w->epoch;
    op->desired = share;
    if (!share) json_object_deep_copy(desired, &op->desired, NULL);
    json_object *cached = informer_get_key(w->inf, run->key);
    op->existed = cached != NULL;
    json_object_put(cached);
    run->pending++;
    apply_copy(op);
  }
  kj_put_wiped(desired);
  prop_plan_free(&plan);
  prop_call_done(run);
}

static void select_and_place(prop_run *run) {
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

/* The object is gone and copies of it are still ours: it was deleted before its first status write
 * carried the finalizers, or while we were down, or its copies were left by a run that crashed. They
 * are deleted as a cascade would (--cascade=orphan always leaves a finalizer that holds the object
 * until its copies are released). A member that cannot be asked now lists its copies again when it
 * can, which brings the key back. Namespaces are not swept: the federation API's own finalizer
 * holds a federated namespace until deletion.c has seen to its copies. */
static void after_sweep(prop_run *run) {
  if (run->issued && !run->rc) run->requeue_ms = 1000; /* the deletions show in the caches; look again */
  prop_finish(run);
}

static void sweep(prop_run *run) {
  prop_sync *s = run->s;
  prop_members *m = s->o.members;
  run->then = after_sweep;
  run->pending = 1;
  for (size_t i = 0; s->o.propagate && s->o.type->res != &KC_NAMESPACES && i < prop_members_len(m); i++) {
    const prop_member *pm = prop_members_at(m, i);
    member_watch *w = prop_watch_of(s, pm->name);
    if (!w || w->epoch != pm->epoch || !informer_has_synced(w->inf)) continue;
    uint64_t wait = prop_members_wait_ms(m, pm);
    if (wait) {
      if (!run->requeue_ms || wait < run->requeue_ms) run->requeue_ms = wait;
      continue;
    }
    run->issued += prop_remove_copy(run, pm, w);
  }
  prop_call_done(run);
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
  if (!run->obj) {
    sweep(run);
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
  select_and_place(run);
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
    if (w->slices) informer_close(w->slices);
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
    if (s->o.type->res == &KC_SERVICES) {
      w->slices = prop_watch_slices(s, pm->client);
      prop_tell_member_services(s, w);
    }
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
  prop_sched_watch(s); /* scheduled workloads: the federated HPAs */
  prop_members_listen(o->members, on_member_replace, s);
  /* Members known before this type's discovery answered: listeners hear only later changes, and a
   * type without its member watches would wait for them for ever (every object requeued, nothing
   * propagated: seen after a restart under load, when members were listed before the type started). */
  for (size_t i = 0; i < prop_members_len(o->members); i++)
    on_member(o->members, prop_members_at(o->members, i)->name, s);
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
  for (size_t i = 0; i < s->nmw; i++) {
    informer_pause(s->mw[i]->inf);
    if (s->mw[i]->slices) informer_pause(s->mw[i]->slices);
  }
  maybe_free(s);
}
