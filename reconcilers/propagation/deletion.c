/* Deletion (reference §2.6): kubefed v1's finalizers, and the namespace finalizer of the federation
 * API, which runs no kube-controller-manager (its garbage collector would strip `orphan`, its
 * namespace controller race ours).
 *
 *   finalizers  every propagated object carries delete-from-underlying-clusters and orphan (v1's
 *               pair): kubectl's default (Background) and Foreground remove orphan, so the copies
 *               are deleted; --cascade=orphan keeps it, so they stay. They are written with the
 *               first status annotation, not in a write of their own before any copy (v1): an
 *               object deleted before then has copies whose object is gone, which sync.c deletes
 *   cascade     each member's copy is deleted; a member that is not Ready holds the cascade (and
 *               an orphaning), with a Warning naming it, until it is back or its Cluster is gone
 *   release     ours, orphan and foregroundDeletion go together (nothing else removes the last two
 *               in the federation API), at once for objects never propagated or of a type that is off
 *   namespaces  contents deleted through discovery, then /finalize, then the members' copies */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kf/kj.h>
#include <kf/log.h>

#include "propagation_internal.h"

/* ---- finalizers ---- */

static void on_finalizers_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  prop_run *run = data;
  (void)c;
  if (rc == KC_ERR_CONFLICT || rc == KC_ERR_INVALID) { /* the list changed under us: read again soon */
    run->requeue_ms = 200;
    prop_finish(run);
    return;
  }
  if (rc != 0) {
    if (rc != KC_ERR_NOTFOUND) KF_WARN("writing finalizers failed", "key", run->key, "error", err->msg);
    run->rc = rc == KC_ERR_NOTFOUND ? 0 : rc;
    prop_finish(run);
    return;
  }
  informer_update_cache(run->s->fed_inf, obj);
  json_object_put(run->obj);
  run->obj = json_object_get(obj);
  if (run->then) run->then(run);
  else prop_finish(run);
}

/* Appends to the JSON patch ops the finalizer change: metadata.finalizers without the names in drop,
 * plus those in add not there, after a test of the list as read, so a concurrent change of the list
 * fails the patch (and the next reconcile reads again) while other changes to the object (status,
 * labels) do not. Returns 0 (and appends nothing) when nothing changes. */
int prop_finalizer_ops(json_object *obj, const char *const *add, const char *const *drop, json_object *ops) {
  json_object *now = kc_obj_get(obj, "metadata.finalizers"), *next = kj_arr();
  size_t n = json_object_is_type(now, json_type_array) ? json_object_array_length(now) : 0;
  int changed = 0;
  for (size_t i = 0; i < n; i++) {
    const char *f = json_object_get_string(json_object_array_get_idx(now, i));
    int dropped = 0;
    for (const char *const *d = drop; d && *d; d++) dropped |= strcmp(f, *d) == 0;
    if (dropped) changed = 1;
    else kj_push_str(next, f);
  }
  for (const char *const *a = add; a && *a; a++)
    if (!kc_has_finalizer(obj, *a)) kj_push_str(next, *a), changed = 1;
  if (!changed) {
    json_object_put(next);
    return 0;
  }
  if (n > 0) {
    json_object *test = kj_str(kj_str(kj_obj(), "op", "test"), "path", "/metadata/finalizers");
    kj_push(ops, kj_copy(test, "value", now));
  }
  json_object *set = kj_str(kj_str(kj_obj(), "op", n > 0 ? "replace" : "add"), "path", "/metadata/finalizers");
  kj_push(ops, kj_set(set, "value", next));
  return 1;
}

/* No write (returns 0, *wrote 0) when nothing changes. */
static int write_finalizers(prop_run *run, const char *const *add, const char *const *drop, int *wrote) {
  json_object *patch = kj_arr();
  *wrote = prop_finalizer_ops(run->obj, add, drop, patch);
  if (!*wrote) {
    json_object_put(patch);
    return 0;
  }
  int rc = kc_patch(run->s->o.fed, run->s->o.type->res, kc_obj_str(run->obj, "metadata.namespace"),
                    kc_obj_str(run->obj, "metadata.name"), KC_PATCH_JSON, patch, NULL, on_finalizers_written, run);
  json_object_put(patch);
  return rc;
}

const char *const PROP_FINALIZERS[] = {PROP_FINALIZER, PROP_FINALIZER_ORPHAN, NULL};
static const char *const RELEASE[] = {PROP_FINALIZER, PROP_FINALIZER_ORPHAN, PROP_FINALIZER_FOREGROUND, NULL};
static const char *const RELEASE_CASCADED[] = {PROP_FINALIZER, PROP_FINALIZER_FOREGROUND, NULL};

/* Ends the run by releasing finalizers (then nothing else runs). */
static void release(prop_run *run, const char *const *which) {
  int wrote = 0;
  run->then = NULL;
  int rc = write_finalizers(run, NULL, which, &wrote);
  if (rc != 0) run->rc = rc;
  if (rc != 0 || !wrote) prop_finish(run);
}

/* ---- cascade ---- */

/* A cascade or an orphaning that members not Ready hold (run->waiting): a Warning naming them, and
 * the object comes back in 5 s. 1 when held (the run is finished). */
static int held(prop_run *run, const char *reason, const char *verb) {
  prop_sync *s = run->s;
  if (!run->waiting) return 0;
  ev_emit(s->o.events, run->obj, "Warning", reason, "Delete",
          "waiting for cluster(s) %s to become Ready to %s %s %s there (or for their FederatedCluster to be deleted)",
          run->waiting, verb, s->o.type->res->kind, kc_obj_str(run->obj, "metadata.name"));
  run->requeue_ms = 5000;
  prop_finish(run);
  return 1;
}

static void after_cascade(prop_run *run) {
  if (run->rc != 0 || run->issued) { /* the copies' deletions show in the caches; look again then */
    run->requeue_ms = 1000;
    prop_finish(run);
    return;
  }
  if (!held(run, "DeleteWaitingForCluster", "delete")) release(run, RELEASE_CASCADED);
}

static void cascade(prop_run *run) {
  prop_sync *s = run->s;
  prop_members *m = s->o.members;
  run->then = after_cascade;
  run->pending = 1;
  for (size_t i = 0; i < prop_members_len(m); i++) {
    const prop_member *pm = prop_members_at(m, i);
    member_watch *w = prop_members_wait_ms(m, pm) == 0 ? prop_watch_of(s, pm->name) : NULL;
    if (!w || w->epoch != pm->epoch || !informer_has_synced(w->inf)) {
      prop_list_add(&run->waiting, pm->name);
      continue;
    }
    run->issued += prop_remove_copy(run, pm, w);
  }
  prop_call_done(run);
}

/* ---- orphan ---- */

typedef struct orphan_op {
  prop_run *run;
  char *member;
} orphan_op;

static void on_unlabelled(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  orphan_op *op = data;
  (void)c, (void)obj;
  if (rc != 0 && rc != KC_ERR_NOTFOUND) {
    KF_WARN("orphaning a member copy failed", "key", op->run->key, "cluster", op->member, "error", err->msg);
    op->run->rc = rc;
  }
  prop_run *run = op->run;
  free(op->member);
  free(op);
  prop_call_done(run);
}

static void after_orphan(prop_run *run) {
  if (run->rc != 0) prop_finish(run);
  else if (!held(run, "OrphanWaitingForCluster", "release")) release(run, RELEASE);
}

/* --cascade=orphan: the copies stay, and stop being ours (KubeFed v2 does the same): our label and
 * hash go, so a later unjoin or a new federated object of the same name leaves them alone. A member
 * that is not Ready holds the release as in a cascade: a copy still labelled when its object is gone
 * is deleted (sync.c's sweep), which --cascade=orphan must not do. */
static void orphan(prop_run *run) {
  prop_sync *s = run->s;
  prop_members *m = s->o.members;
  char *ns = NULL, *name = NULL;
  ctrl_split_key(run->key, &ns, &name);
  json_object *meta = kj_obj();
  kj_set(meta, "labels", kj_set(kj_obj(), PROP_LABEL_PROPAGATED_BY, NULL));
  kj_set(meta, "annotations", kj_set(kj_obj(), PROP_ANNOTATION_HASH, NULL));
  json_object *patch = kj_set(kj_obj(), "metadata", meta);
  run->then = after_orphan;
  run->pending = 1;
  for (size_t i = 0; s->o.propagate && i < prop_members_len(m); i++) {
    const prop_member *pm = prop_members_at(m, i);
    member_watch *w = prop_members_wait_ms(m, pm) == 0 ? prop_watch_of(s, pm->name) : NULL;
    if (!pm->ready || !w || w->epoch != pm->epoch || !informer_has_synced(w->inf)) {
      prop_list_add(&run->waiting, pm->name);
      continue;
    }
    json_object *copy = informer_get_key(w->inf, run->key);
    if (!copy) continue;
    json_object_put(copy);
    orphan_op *op = kf_calloc(1, sizeof(*op));
    op->run = run;
    op->member = kf_strdup(pm->name);
    run->pending++;
    if (kc_patch(pm->client, s->o.type->res, ns, name, KC_PATCH_MERGE, patch, NULL, on_unlabelled, op) != 0) {
      run->pending--;
      free(op->member);
      free(op);
    }
  }
  json_object_put(patch);
  free(ns);
  free(name);
  prop_call_done(run);
}

/* ---- namespaces ---- */

typedef struct ns_cleanup {
  prop_run *run;
  char *ns;
  char **paths; /* collection paths of the namespaced resources that can be deleted */
  size_t n;
  int pending, remaining, failed;
} ns_cleanup;

static void ns_free(ns_cleanup *nc) {
  for (size_t i = 0; i < nc->n; i++) free(nc->paths[i]);
  free(nc->paths);
  free(nc->ns);
  free(nc);
}

/* 1 when the JSON array of strings arr (any JSON, NULL included) holds s. */
static int has_string(json_object *arr, const char *s) {
  size_t n = json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), s) == 0) return 1;
  return 0;
}

static void on_finalized(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  prop_run *run = data;
  (void)c, (void)obj;
  if (rc != 0 && rc != KC_ERR_NOTFOUND) {
    KF_WARN("finalizing the namespace failed", "namespace", run->key, "error", err->msg);
    run->rc = rc;
  }
  prop_finish(run);
}

/* Everything in the namespace is gone: drop the `kubernetes` finalizer as the namespace controller
 * would; the namespace's own metadata finalizers (ours) come next. */
static void ns_finalize(ns_cleanup *nc) {
  prop_run *run = nc->run;
  json_object *body = json_object_get(run->obj), *fins = kj_arr();
  json_object *now = kc_obj_get(run->obj, "spec.finalizers");
  for (size_t i = 0; i < json_object_array_length(now); i++) {
    const char *f = json_object_get_string(json_object_array_get_idx(now, i));
    if (strcmp(f, "kubernetes") != 0) kj_push_str(fins, f);
  }
  json_object *copy = NULL;
  json_object_deep_copy(body, &copy, NULL);
  json_object_put(body);
  json_object *spec = kc_obj_get(copy, "spec");
  if (!spec) kj_set(copy, "spec", spec = kj_obj());
  kj_set(spec, "finalizers", fins);
  const char *text = json_object_to_json_string_ext(copy, JSON_C_TO_STRING_PLAIN);
  char *path = kf_asprintf("/api/v1/namespaces/%s/finalize", nc->ns);
  kc_request r = {
      .method = "PUT", .path = path, .content_type = "application/json", .body = text, .body_len = strlen(text)};
  int rc = kc_do(run->s->o.fed, &r, on_finalized, run);
  free(path);
  json_object_put(copy);
  ns_free(nc);
  if (rc != 0) {
    run->rc = rc;
    prop_finish(run);
  }
}

static void ns_step_done(ns_cleanup *nc) {
  if (--nc->pending > 0) return;
  prop_run *run = nc->run;
  if (nc->failed || nc->remaining) { /* finalizers of what is inside still run: look again soon */
    run->requeue_ms = 2000;
    run->rc = nc->failed && !nc->remaining ? -EAGAIN : 0;
    ns_free(nc);
    prop_finish(run);
    return;
  }
  ns_finalize(nc);
}

typedef struct ns_call {
  ns_cleanup *nc;
  char *path;
} ns_call;

static void ns_call_free(ns_call *call) {
  free(call->path);
  free(call);
}

static void on_collection_deleted(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  ns_call *call = data;
  ns_cleanup *nc = call->nc;
  (void)c, (void)obj, (void)err;
  if (rc != 0 && rc != KC_ERR_NOTFOUND) nc->failed = 1;
  ns_call_free(call);
  ns_step_done(nc);
}

/* A resource still holding objects in the namespace: delete them, unless every one listed is
 * already being deleted (their finalizers run; deleting again would only repeat the request). */
static void on_listed(kc_client *c, int rc, json_object *list, const kf_error *err, void *data) {
  ns_call *call = data;
  ns_cleanup *nc = call->nc;
  (void)err;
  json_object *items = kc_obj_get(list, "items");
  size_t n = rc == 0 && json_object_is_type(items, json_type_array) ? json_object_array_length(items) : 0;
  int live = kc_obj_str(list, "metadata.continue") != NULL;
  for (size_t i = 0; i < n; i++) live |= !kc_obj_get(json_object_array_get_idx(items, i), "metadata.deletionTimestamp");
  if (rc != 0 && rc != KC_ERR_NOTFOUND) nc->failed = 1;
  if (n > 0) nc->remaining++;
  if (live) {
    kc_request r = {.method = "DELETE", .path = call->path, .query = "propagationPolicy=Background"};
    if (kc_do(c, &r, on_collection_deleted, call) == 0) return;
    nc->failed = 1;
  }
  ns_call_free(call);
  ns_step_done(nc);
}

static void ns_delete_contents(ns_cleanup *nc) {
  prop_run *run = nc->run;
  nc->pending = 1;
  for (size_t i = 0; i < nc->n; i++) {
    ns_call *call = kf_calloc(1, sizeof(*call));
    call->nc = nc;
    call->path = kf_strdup(nc->paths[i]);
    kc_request r = {.method = "GET", .path = call->path, .query = "limit=50"};
    nc->pending++;
    if (kc_do(run->s->o.fed, &r, on_listed, call) != 0) {
      nc->pending--;
      nc->failed = 1;
      ns_call_free(call);
    }
  }
  ns_step_done(nc);
}

typedef struct ns_discovery {
  ns_cleanup *nc;
  char *prefix; /* /api/v1 or /apis/GROUP/VERSION */
} ns_discovery;

static void on_resources(kc_client *c, int rc, json_object *list, const kf_error *err, void *data) {
  ns_discovery *d = data;
  ns_cleanup *nc = d->nc;
  (void)c, (void)err;
  json_object *res = kc_obj_get(list, "resources");
  size_t n = rc == 0 && json_object_is_type(res, json_type_array) ? json_object_array_length(res) : 0;
  if (rc != 0) nc->failed = 1;
  for (size_t i = 0; i < n; i++) {
    json_object *r = json_object_array_get_idx(res, i);
    const char *name = kc_obj_str(r, "name");
    json_object *namespaced = kc_obj_get(r, "namespaced");
    if (!name || strchr(name, '/') || !json_object_get_boolean(namespaced)) continue;
    if (!has_string(kc_obj_get(r, "verbs"), "deletecollection") || !has_string(kc_obj_get(r, "verbs"), "list"))
      continue;
    /* Events describe what was deleted; they go with the namespace itself. */
    if (strcmp(name, "events") == 0 && strcmp(d->prefix, "/api/v1") != 0) continue;
    nc->paths = kf_realloc(nc->paths, (nc->n + 1) * sizeof(char *));
    nc->paths[nc->n++] = kf_asprintf("%s/namespaces/%s/%s", d->prefix, nc->ns, name);
  }
  free(d->prefix);
  free(d);
  if (--nc->pending > 0) return;
  if (nc->failed) {
    nc->pending = 1;
    ns_step_done(nc);
    return;
  }
  ns_delete_contents(nc);
}

static void discover(ns_cleanup *nc, const char *prefix) {
  ns_discovery *d = kf_calloc(1, sizeof(*d));
  d->nc = nc;
  d->prefix = kf_strdup(prefix);
  kc_request r = {.method = "GET", .path = d->prefix};
  nc->pending++;
  if (kc_do(nc->run->s->o.fed, &r, on_resources, d) != 0) {
    nc->pending--;
    nc->failed = 1;
    free(d->prefix);
    free(d);
  }
}

static void on_groups(kc_client *c, int rc, json_object *list, const kf_error *err, void *data) {
  ns_cleanup *nc = data;
  (void)c, (void)err;
  json_object *groups = kc_obj_get(list, "groups");
  size_t n = rc == 0 && json_object_is_type(groups, json_type_array) ? json_object_array_length(groups) : 0;
  if (rc != 0) nc->failed = 1;
  for (size_t i = 0; i < n; i++) {
    const char *gv = kc_obj_str(json_object_array_get_idx(groups, i), "preferredVersion.groupVersion");
    if (!gv) continue;
    char *prefix = kf_asprintf("/apis/%s", gv);
    discover(nc, prefix);
    free(prefix);
  }
  /* on_resources of the core group may already have run: pending counts both. */
  if (--nc->pending > 0) return;
  nc->pending = 1;
  if (nc->failed) ns_step_done(nc);
  else {
    nc->pending = 0;
    ns_delete_contents(nc);
  }
}

static void ns_cleanup_start(prop_run *run) {
  ns_cleanup *nc = kf_calloc(1, sizeof(*nc));
  nc->run = run;
  nc->ns = kf_strdup(kc_obj_str(run->obj, "metadata.name"));
  nc->pending = 1; /* the /apis read */
  discover(nc, "/api/v1");
  kc_request r = {.method = "GET", .path = "/apis"};
  if (kc_do(run->s->o.fed, &r, on_groups, nc) != 0) {
    nc->failed = 1;
    on_groups(run->s->o.fed, -EIO, NULL, NULL, nc);
  }
}

/* ---- entry ---- */

void prop_delete(prop_run *run) {
  prop_sync *s = run->s;
  if (s->o.type->res == &KC_NAMESPACES && has_string(kc_obj_get(run->obj, "spec.finalizers"), "kubernetes")) {
    ns_cleanup_start(run);
    return;
  }
  if (!s->o.propagate || prop_skip(s->o.type, run->obj)) {
    release(run, RELEASE);
    return;
  }
  /* Without our pair (deleted before its first status write: a foreground delete or another
   * finalizer holds it), orphan is the user's --cascade=orphan; its copies are handled the same. */
  if (kc_has_finalizer(run->obj, PROP_FINALIZER_ORPHAN)) {
    orphan(run);
    return;
  }
  cascade(run);
}
