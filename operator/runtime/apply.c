/* apply: ensure (create-or-apply when different), create-only and delete-if-ours.
 *
 * One op per call: it reads (cache, else GET), decides, writes, and reports once. Reports that
 * need no request (a cache hit) are deferred to the loop through the op's own timer, so a callback
 * never runs on the caller's stack; the op is freed in the timer's close callback.
 *
 * An absent object is created with a POST, not a server-side apply: a POST cannot take over an
 * object somebody else made in the meantime (it answers 409, and whose it is is read then), so a
 * cache miss needs no GET first, and the apiserver spends less on it (no apply merge). The price is
 * ownership: a POST records the fields under our manager with operation Update, and a later apply
 * would not remove what that entry owns. The first apply that sees such an entry folds it into our
 * Apply entry (a JSON patch of managedFields, as client-go's csaupgrade does for kubectl's
 * client-side apply) and applies once more when the fold gave us fields the apply no longer sets. */
#include <kf/apply.h>

#include <stdlib.h>
#include <string.h>

#include <kf/kj.h>
#include <kf/log.h>

typedef struct apply_op {
  apply_opts o;
  apply_cb cb;
  void *data;
  json_object *desired; /* ensure: owned, wiped when done */
  char *ns, *name;
  int deleting;
  int posted;     /* the POST met an existing object once: the next 409 is an error, not a loop */
  int converting; /* a fold was started: 1, it reports; 2, the apply after it reports */
  int fold_tries; /* folds that met a changed list of entries (another manager's entry moved) */
  apply_result r;
  json_object *live; /* held for a deferred report */
  kf_error err;
  uv_timer_t defer;
  int timer_used;
} apply_op;

static void apply_op_free(apply_op *op) {
  kj_put_wiped(op->desired);
  if (op->live) json_object_put(op->live);
  free(op->ns);
  free(op->name);
  free(op);
}

static void apply_timer_closed(uv_handle_t *h) { apply_op_free(h->data); }

/* Reports r and ends the op. live is borrowed for the call. */
static void apply_report(apply_op *op, int rc, int wrote, const char *step, json_object *live, const kf_error *err) {
  op->r.rc = rc;
  op->r.wrote = wrote;
  op->r.step = step;
  op->r.live = rc == 0 ? live : NULL;
  if (rc != 0) {
    if (err && err != &op->err) op->err = *err;
    if (!op->err.msg[0]) kf_error_set(&op->err, rc, "%s %s: %s failed", op->o.res->kind, op->name, step);
    op->r.err = &op->err;
  }
  op->cb(&op->r, op->data);
  if (op->timer_used) uv_close((uv_handle_t *)&op->defer, apply_timer_closed);
  else apply_op_free(op);
}

static void apply_deferred(uv_timer_t *t) {
  apply_op *op = t->data;
  apply_report(op, op->r.rc, op->r.wrote, op->r.step, op->live, &op->err);
}

/* Reports from the loop: the caller's stack may be apply_ensure's own caller. */
static void apply_defer(apply_op *op, int rc, const char *step, json_object *live) {
  op->r.rc = rc;
  op->r.step = step;
  op->live = live ? json_object_get(live) : NULL;
  op->timer_used = 1;
  uv_timer_init(http_engine_loop(kc_client_engine(op->o.client)), &op->defer);
  op->defer.data = op;
  uv_timer_start(&op->defer, apply_deferred, 0, 0);
}

int apply_is_ours(json_object *obj, const char *const *owner_labels) {
  json_object *labels = kc_obj_get(obj, "metadata.labels");
  for (const char *const *kv = owner_labels; kv && kv[0] && kv[1]; kv += 2)
    if (!kf_streq(kc_obj_key_str(labels, kv[0]), kv[1])) return 0;
  return 1;
}

static void apply_read(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data);

/* The read of an ensure without a cache: is an object of this name there, and is it ours? From the
 * apiserver's watch cache (resourceVersion=0), not a quorum read of etcd: the answer is as old as
 * that cache's lag, which costs nothing here (an object created in between makes the POST fail with
 * 409, and the op reads again). quorum: a read of etcd, for a delete (it needs the current uid) and
 * after a create met an existing object (which the watch cache may not hold yet). */
static int apply_read_start(apply_op *op, int quorum) {
  kc_request r = {.method = "GET",
                  .res = op->o.res,
                  .namespace_ = op->ns,
                  .name = op->name,
                  .query = quorum ? NULL : "resourceVersion=0"};
  return kc_do(op->o.client, &r, apply_read, op);
}

static int apply_fold_update_entry(apply_op *op, json_object *live);

static void apply_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  apply_op *op = data;
  (void)c;
  if (rc == KC_ERR_EXISTS && !op->posted) {
    /* The cache had not seen it (yet, or it is not ours): whose it is decides, as after a GET. */
    op->posted = 1;
    if ((rc = apply_read_start(op, 1)) == 0) return;
    kf_error_set(&op->err, rc, "%s %s: the read could not be started", op->o.res->kind, op->name);
    err = &op->err;
  } else if (rc == KC_ERR_NOTFOUND && op->deleting) rc = 0, obj = NULL; /* already gone */
  else if (rc == 0 && !op->deleting && !op->converting) {
    int fold = apply_fold_update_entry(op, obj);
    if (fold == 0) return; /* the fold (and the apply after it) reports */
    if (fold < 0) rc = fold;
  }
  apply_report(op, rc, rc == 0, op->deleting ? "delete" : "write", op->deleting ? NULL : obj, err);
}

/* A POST for an absent object, an apply for an existing one (NULL: absent). */
static int apply_write(apply_op *op, json_object *live) {
  if (!live || op->o.mode == APPLY_CREATE_ONLY)
    return kc_create(op->o.client, op->o.res, op->ns, op->desired, apply_written, op);
  return kc_apply(op->o.client, op->o.res, op->desired, NULL, apply_written, op);
}

/* managedFields entries of our manager for the object itself (not a subresource). */
static int apply_our_entry(json_object *entry, const char *manager, const char *operation) {
  return kf_streq(kc_obj_str(entry, "manager"), manager) && kf_streq(kc_obj_str(entry, "operation"), operation) &&
         !kc_obj_str(entry, "subresource");
}

/* Adds every field of from to into (fieldsV1 sets: nested objects, {} leaves). */
static void apply_fields_union(json_object *into, json_object *from) {
  json_object_object_foreach (from, key, val) {
    json_object *have = NULL;
    if (!json_object_object_get_ex(into, key, &have)) kj_copy(into, key, val);
    else if (json_object_is_type(have, json_type_object) && json_object_is_type(val, json_type_object))
      apply_fields_union(have, val);
  }
}

/* 1 when set holds every field of want, the "." of a map (the map's own presence) aside. */
static int apply_fields_cover(json_object *set, json_object *want) {
  json_object_object_foreach (want, key, val) {
    json_object *have = NULL;
    if (strcmp(key, ".") == 0) continue;
    if (!json_object_object_get_ex(set, key, &have)) return 0;
    if (json_object_is_type(val, json_type_object) && !apply_fields_cover(have, val)) return 0;
  }
  return 1;
}

#define APPLY_FOLD_TRIES 3

/* Ends the fold: the apply after it when the fold gave us fields desired no longer has, else the report. */
static void apply_fold_done(apply_op *op, json_object *obj) {
  int rc = 0;
  if (op->converting == 2) {
    if ((rc = kc_apply(op->o.client, op->o.res, op->desired, NULL, apply_written, op)) == 0) return;
    kf_error_set(&op->err, rc, "%s %s: the apply after folding its creation's fields could not be started",
                 op->o.res->kind, op->name);
  }
  apply_report(op, rc, rc == 0, "write", obj, &op->err);
}

static void apply_refold_read(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  apply_op *op = data;
  (void)c;
  int fold = rc == 0 ? apply_fold_update_entry(op, obj) : rc;
  if (fold == 0) return;
  if (fold == 1) apply_fold_done(op, obj); /* folded meanwhile */
  else apply_report(op, fold, 0, "write", NULL, rc != 0 ? err : NULL);
}

static void apply_folded(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  apply_op *op = data;
  (void)c;
  if (rc == KC_ERR_INVALID && ++op->fold_tries < APPLY_FOLD_TRIES) {
    /* A test failed: the entries moved (another manager wrote between our apply and the fold). The
     * apply is done, and no later reconcile would see a reason to apply again: fold from a fresh read. */
    kc_request r = {.method = "GET", .res = op->o.res, .namespace_ = op->ns, .name = op->name};
    if ((rc = kc_do(op->o.client, &r, apply_refold_read, op)) == 0) return;
  }
  if (rc == 0) apply_fold_done(op, obj);
  else apply_report(op, rc, 0, "write", NULL, err);
}

/* After an apply: folds an Update entry of our manager (left by our POST) into our Apply entry.
 * Returns 0 when a request was started (it reports), 1 when there is nothing to fold, or an error. */
static int apply_fold_update_entry(apply_op *op, json_object *live) {
  const char *manager = kc_client_field_manager(op->o.client);
  json_object *entries = kc_obj_get(live, "metadata.managedFields");
  int ia = -1, iu = -1, n = entries ? (int)json_object_array_length(entries) : 0;
  for (int i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(entries, (size_t)i);
    if (apply_our_entry(e, manager, "Apply")) ia = i;
    else if (apply_our_entry(e, manager, "Update")) iu = i;
  }
  if (ia < 0 || iu < 0) return 1;
  json_object *applied = kc_obj_get(json_object_array_get_idx(entries, (size_t)ia), "fieldsV1");
  json_object *created = kc_obj_get(json_object_array_get_idx(entries, (size_t)iu), "fieldsV1");
  json_object *fields = NULL;
  json_object_deep_copy(applied, &fields, NULL);
  if (!fields) fields = kj_obj();
  if (created) apply_fields_union(fields, created);
  op->converting = !created || apply_fields_cover(applied, created) ? 1 : 2;
  /* Each index is tested against its entry as read (not the resourceVersion: a member's controllers
   * update status all the time, and only our two entries matter). */
  char path[64];
  json_object *patch = kj_arr();
  for (int i = 0; i < 2; i++) {
    int at = i ? iu : ia;
    snprintf(path, sizeof(path), "/metadata/managedFields/%d", at);
    kj_push(patch, kj_copy(kj_str(kj_str(kj_obj(), "op", "test"), "path", path), "value",
                           json_object_array_get_idx(entries, (size_t)at)));
  }
  snprintf(path, sizeof(path), "/metadata/managedFields/%d/fieldsV1", ia);
  kj_push(patch, kj_set(kj_str(kj_str(kj_obj(), "op", "replace"), "path", path), "value", fields));
  snprintf(path, sizeof(path), "/metadata/managedFields/%d", iu);
  kj_push(patch, kj_str(kj_str(kj_obj(), "op", "remove"), "path", path));
  KF_DEBUG("folding the fields our create recorded into our apply", "kind", op->o.res->kind, "name", op->name,
           "reapply", op->converting == 2 ? "yes" : "no");
  int rc = kc_patch(op->o.client, op->o.res, op->ns, op->name, KC_PATCH_JSON, patch, NULL, apply_folded, op);
  json_object_put(patch);
  return rc;
}

/* What ensure does with the live object (NULL: absent). Returns 0 when the op continues. */
static int apply_decide(apply_op *op, json_object *live, int on_loop) {
  int rc = 0;
  const char *step = "read";
  if (live && !apply_is_ours(live, op->o.owner_labels)) {
    kf_error_set(&op->err, APPLY_ERR_NOT_OURS, "%s %s%s%s exists and is not managed by this controller",
                 op->o.res->kind, op->ns ? op->ns : "", op->ns ? "/" : "", op->name);
    rc = APPLY_ERR_NOT_OURS;
  } else if (live && (op->o.mode == APPLY_CREATE_ONLY || kj_subset(op->desired, live))) {
    rc = 0;
  } else {
    if (live) {
      char why[256];
      kj_subset_why(op->desired, live, why, sizeof(why));
      KF_DEBUG("differs from desired; applying", "kind", op->o.res->kind, "name", op->name, "field", why);
    }
    step = "write";
    rc = apply_write(op, live);
    if (rc == 0) return 0;
    kf_error_set(&op->err, rc, "%s %s: the write could not be started", op->o.res->kind, op->name);
  }
  if (on_loop) apply_report(op, rc, 0, step, live, &op->err);
  else apply_defer(op, rc, step, live);
  return 0;
}

static void apply_delete_read(apply_op *op, json_object *live, int on_loop);

static void apply_read(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  apply_op *op = data;
  (void)c;
  if (rc != 0 && rc != KC_ERR_NOTFOUND) {
    apply_report(op, rc, 0, "read", NULL, err);
    return;
  }
  if (op->deleting) apply_delete_read(op, rc == 0 ? obj : NULL, 1);
  else apply_decide(op, rc == 0 ? obj : NULL, 1);
}

static apply_op *apply_op_new(const apply_opts *o, const char *ns, const char *name, apply_cb cb, void *data) {
  apply_op *op = kf_calloc(1, sizeof(*op));
  op->o = *o;
  op->cb = cb;
  op->data = data;
  op->ns = ns ? kf_strdup(ns) : NULL;
  op->name = kf_strdup(name);
  return op;
}

/* Reads the live object from the cache when it has it (reporting from the loop), else GETs. */
static int apply_start(apply_op *op) {
  json_object *cached = op->o.cache ? informer_get(op->o.cache, op->ns, op->name) : NULL;
  if (cached) {
    if (op->deleting) apply_delete_read(op, cached, 0);
    else apply_decide(op, cached, 0);
    json_object_put(cached);
    return 0;
  }
  if ((op->o.cache || op->o.assume_absent) && !op->deleting) return apply_write(op, NULL); /* a 409 reads it */
  return apply_read_start(op, op->deleting);
}

int apply_ensure(const apply_opts *o, json_object *desired, apply_cb cb, void *data) {
  const char *name = kc_obj_str(desired, "metadata.name");
  if (!name || !o->client || !o->res || !cb) {
    kj_put_wiped(desired);
    return KC_ERR_INVALID;
  }
  apply_op *op = apply_op_new(o, kc_obj_str(desired, "metadata.namespace"), name, cb, data);
  op->desired = desired;
  int rc = apply_start(op);
  if (rc != 0) apply_op_free(op);
  return rc;
}

static void apply_delete_read(apply_op *op, json_object *live, int on_loop) {
  int rc = 0;
  if (live && apply_is_ours(live, op->o.owner_labels)) {
    kc_delete_opts d = {.precondition_uid = kc_obj_str(live, "metadata.uid"), .propagation_policy = "Background"};
    rc = kc_delete(op->o.client, op->o.res, op->ns, op->name, &d, apply_written, op);
    if (rc == 0) return;
    kf_error_set(&op->err, rc, "%s %s: the delete could not be started", op->o.res->kind, op->name);
  }
  op->r.not_ours = live != NULL && rc == 0;
  if (on_loop) apply_report(op, rc, 0, "delete", NULL, &op->err);
  else apply_defer(op, rc, "delete", NULL);
}

int apply_delete(const apply_opts *o, const char *ns, const char *name, apply_cb cb, void *data) {
  if (!name || !o->client || !o->res || !cb) return KC_ERR_INVALID;
  apply_op *op = apply_op_new(o, ns, name, cb, data);
  op->deleting = 1;
  int rc = apply_start(op);
  if (rc != 0) apply_op_free(op);
  return rc;
}
