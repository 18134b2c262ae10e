/* kube.apply: the one apply path (ensure-if-differs, create-only, delete-if-ours) and shared
 * informers (several handler sets, the factory) against a real kube-apiserver.
 *
 * What a user would check: a steady state makes no writes; a drifted object is put back; an
 * object of the same name that somebody else made is neither overwritten nor deleted; and every
 * callback arrives from the loop, never inside the call that started it. With a cache that holds
 * only our objects, a miss is created by POST: somebody else's object still survives, and a key
 * later dropped from desired goes away although the POST recorded it as an Update; so it does
 * without a cache when the caller assumes the object absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kf/apply.h>
#include <kf/informer.h>
#include <kf/kj.h>
#include <kf/metrics.h>

#include "it.h"

static const char *const OWNER[] = {"app.kubernetes.io/managed-by", "kf-it", "kf.test/owner", "apply", NULL};

static json_object *configmap(const char *ns, const char *name, const char *value, int owned) {
  json_object *cm = it_json("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"labels\":{}},\"data\":{}}");
  json_object *meta = kc_obj_get(cm, "metadata");
  json_object_object_add(meta, "name", json_object_new_string(name));
  json_object_object_add(meta, "namespace", json_object_new_string(ns));
  for (const char *const *kv = OWNER; owned && kv[0]; kv += 2)
    json_object_object_add(kc_obj_get(meta, "labels"), kv[0], json_object_new_string(kv[1]));
  json_object_object_add(kc_obj_get(cm, "data"), "k", json_object_new_string(value));
  return cm;
}

typedef struct outcome {
  int done, rc, wrote, not_ours, in_call;
  int called_in_call; /* the callback ran on the caller's stack: a contract violation */
  char value[64];
} outcome;

static void on_applied(const apply_result *r, void *data) {
  outcome *o = data;
  o->done++;
  o->called_in_call |= o->in_call;
  o->rc = r->rc;
  o->wrote = r->wrote;
  o->not_ours = r->not_ours;
  assert_true(r->rc == 0 || (r->err && r->err->msg[0]));
  const char *v = r->live ? kc_obj_str(r->live, "data.k") : NULL;
  snprintf(o->value, sizeof(o->value), "%s", v ? v : "");
}

static int outcome_done(void *data) { return ((outcome *)data)->done; }

static outcome ensure(it_env *env, const apply_opts *ao, json_object *desired) {
  outcome o = {.in_call = 1};
  assert_int_equal(apply_ensure(ao, desired, on_applied, &o), 0);
  o.in_call = 0;
  assert_int_equal(it_run_until(env, outcome_done, &o, 30000), 0);
  assert_int_equal(o.done, 1);
  assert_false(o.called_in_call);
  return o;
}

static outcome delete_ours(it_env *env, const apply_opts *ao, const char *ns, const char *name) {
  outcome o = {.in_call = 1};
  assert_int_equal(apply_delete(ao, ns, name, on_applied, &o), 0);
  o.in_call = 0;
  assert_int_equal(it_run_until(env, outcome_done, &o, 30000), 0);
  assert_false(o.called_in_call);
  return o;
}

static char *value_of(it_env *env, const char *ns, const char *name) {
  it_result r = {0};
  kc_get(env->c, &KC_CONFIGMAPS, ns, name, it_cb, &r);
  it_wait(env, &r, 30000);
  char *v = r.rc == 0 ? kf_strdup(kc_obj_str(r.obj, "data.k")) : NULL;
  it_result_reset(&r);
  return v;
}

/* Somebody else's ConfigMap "theirs" (no owner labels): neither an ensure nor a create-only ensure
 * through ao writes it, both say it is not ours, and its value stays. */
static void assert_theirs_kept(it_env *env, const apply_opts *ao, const char *ns) {
  it_result r = {0};
  json_object *theirs = configmap(ns, "theirs", "keep", 0);
  kc_create(env->c, &KC_CONFIGMAPS, ns, theirs, it_cb, &r);
  it_wait(env, &r, 30000);
  assert_int_equal(r.rc, 0);
  it_result_reset(&r);
  json_object_put(theirs);
  apply_opts create_only = *ao;
  create_only.mode = APPLY_CREATE_ONLY;
  for (int i = 0; i < 2; i++) {
    outcome o = ensure(env, i ? &create_only : ao, configmap(ns, "theirs", "mine", 1));
    assert_int_equal(o.rc, APPLY_ERR_NOT_OURS);
    assert_false(o.wrote);
  }
  char *v = value_of(env, ns, "theirs");
  assert_string_equal(v, "keep");
  free(v);
}

static int synced(void *data) { return informer_has_synced(data); }

static void test_ensure_and_delete(void **state) {
  it_env env;
  (void)state;
  it_env_init(&env);
  const char *ns = it_namespace(&env, "it-apply");
  apply_opts ao = {.client = env.c, .res = &KC_CONFIGMAPS, .owner_labels = OWNER};

  /* Absent: created. Same again: no write. Drifted desired: written. */
  outcome o = ensure(&env, &ao, configmap(ns, "ours", "v1", 1));
  assert_int_equal(o.rc, 0);
  assert_true(o.wrote);
  assert_string_equal(o.value, "v1");
  o = ensure(&env, &ao, configmap(ns, "ours", "v1", 1));
  assert_int_equal(o.rc, 0);
  assert_false(o.wrote);
  o = ensure(&env, &ao, configmap(ns, "ours", "v2", 1));
  assert_true(o.wrote);
  assert_string_equal(o.value, "v2");

  /* Somebody else's object under the name: never overwritten. */
  assert_theirs_kept(&env, &ao, ns);
  char *v;

  /* Create-only: a missing object is created, an existing one is left as it is. */
  apply_opts create_only = ao;
  create_only.mode = APPLY_CREATE_ONLY;
  o = ensure(&env, &create_only, configmap(ns, "token", "first", 1));
  assert_true(o.wrote);
  o = ensure(&env, &create_only, configmap(ns, "token", "second", 1));
  assert_int_equal(o.rc, 0);
  assert_false(o.wrote);
  v = value_of(&env, ns, "token");
  assert_string_equal(v, "first");
  free(v);

  /* Delete: ours goes, theirs stays (reported), a missing one is success. */
  o = delete_ours(&env, &ao, ns, "ours");
  assert_int_equal(o.rc, 0);
  assert_true(o.wrote);
  assert_null(value_of(&env, ns, "ours"));
  o = delete_ours(&env, &ao, ns, "theirs");
  assert_int_equal(o.rc, 0);
  assert_false(o.wrote);
  assert_true(o.not_ours);
  v = value_of(&env, ns, "theirs");
  assert_string_equal(v, "keep");
  free(v);
  o = delete_ours(&env, &ao, ns, "never-was");
  assert_int_equal(o.rc, 0);
  assert_false(o.wrote);

  /* A desired object without a name is refused at the call, with no callback. */
  outcome none = {0};
  json_object *nameless = it_json("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{}}");
  assert_int_equal(apply_ensure(&ao, nameless, on_applied, &none), KC_ERR_INVALID);
  it_run_for(&env, 50);
  assert_int_equal(none.done, 0);
  it_env_free(&env);
}

/* Our manager's managedFields entries of ns/name, as "Apply,Update" (in the server's order). */
static char *our_entries(it_env *env, const char *ns, const char *name) {
  it_result r = {0};
  char out[128] = "";
  kc_get(env->c, &KC_CONFIGMAPS, ns, name, it_cb, &r);
  it_wait(env, &r, 30000);
  assert_int_equal(r.rc, 0);
  json_object *entries = kc_obj_get(r.obj, "metadata.managedFields");
  for (size_t i = 0; entries && i < json_object_array_length(entries); i++) {
    json_object *e = json_object_array_get_idx(entries, i);
    if (!kf_streq(kc_obj_str(e, "manager"), IT_FIELD_MANAGER)) continue;
    snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", out[0] ? "," : "", kc_obj_str(e, "operation"));
  }
  it_result_reset(&r);
  return kf_strdup(out);
}

static void test_create_by_post_then_apply(void **state) {
  it_env env;
  (void)state;
  it_env_init(&env);
  const char *ns = it_namespace(&env, "it-post");
  informer_opts io = {.res = &KC_CONFIGMAPS, .namespace_ = ns, .label_selector = "kf.test/owner=apply"};
  informer *inf = informer_new(env.c, &io, NULL);
  assert_non_null(inf);
  assert_int_equal(informer_start(inf), 0);
  assert_int_equal(it_run_until(&env, synced, inf, 30000), 0);
  apply_opts ao = {.client = env.c, .res = &KC_CONFIGMAPS, .owner_labels = OWNER, .cache = inf};

  /* A miss: created by POST, which leaves our manager an Update entry. */
  json_object *two = configmap(ns, "folded", "v1", 1);
  kj_str(kc_obj_get(two, "data"), "dropped", "soon");
  outcome o = ensure(&env, &ao, two);
  assert_int_equal(o.rc, 0);
  assert_true(o.wrote);
  char *entries = our_entries(&env, ns, "folded");
  assert_string_equal(entries, "Update");
  free(entries);

  /* The first update drops a key: the apply folds the Update entry into ours and the key goes. */
  o = ensure(&env, &ao, configmap(ns, "folded", "v2", 1));
  assert_int_equal(o.rc, 0);
  assert_true(o.wrote);
  assert_string_equal(o.value, "v2");
  it_result r = {0};
  kc_get(env.c, &KC_CONFIGMAPS, ns, "folded", it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  assert_null(kc_obj_get(r.obj, "data.dropped"));
  assert_string_equal(kc_obj_str(r.obj, "data.k"), "v2");
  it_result_reset(&r);
  entries = our_entries(&env, ns, "folded");
  assert_string_equal(entries, "Apply");
  free(entries);

  /* An object of the name that is not ours is not in the cache: the POST meets it (409), it is
   * read, and left as it was. */
  assert_theirs_kept(&env, &ao, ns);

  informer_close(inf);
  it_run_for(&env, 100);
  it_env_free(&env);
}

/* Without a cache, assume_absent (a first join's first pass) creates by POST with no read first;
 * an object that exists all the same is read after the 409 and treated as an ensure would. */
static void test_assume_absent(void **state) {
  it_env env;
  (void)state;
  it_env_init(&env);
  const char *ns = it_namespace(&env, "it-absent");
  kf_metrics *m = kf_metrics_new("kubefed_");
  kc_client_set_metrics(env.c, m);
  apply_opts ao = {.client = env.c, .res = &KC_CONFIGMAPS, .owner_labels = OWNER, .assume_absent = 1};

  outcome o = ensure(&env, &ao, configmap(ns, "first", "v1", 1));
  assert_int_equal(o.rc, 0);
  assert_true(o.wrote);
  assert_int_equal(kf_metrics_get(m, "api_requests_total", "verb=\"GET\",code=\"404\""), 0); /* no read */
  assert_int_equal(kf_metrics_get(m, "api_requests_total", "verb=\"POST\",code=\"201\""), 1);
  char *entries = our_entries(&env, ns, "first");
  assert_string_equal(entries, "Update"); /* a POST, not an apply */
  free(entries);

  /* It was not absent after all: the same desired writes nothing, a changed one is written. */
  o = ensure(&env, &ao, configmap(ns, "first", "v1", 1));
  assert_int_equal(o.rc, 0);
  assert_false(o.wrote);
  o = ensure(&env, &ao, configmap(ns, "first", "v2", 1));
  assert_int_equal(o.rc, 0);
  assert_true(o.wrote);
  char *v = value_of(&env, ns, "first");
  assert_string_equal(v, "v2");
  free(v);

  /* Somebody else's object: the POST meets it, it is read, and left as it was. */
  assert_theirs_kept(&env, &ao, ns);
  kc_client_set_metrics(env.c, NULL);
  kf_metrics_free(m);
  it_env_free(&env);
}

typedef struct counts {
  int adds, updates, deletes;
} counts;

static void c_add(informer *inf, json_object *obj, void *data) {
  (void)inf;
  (void)obj;
  ((counts *)data)->adds++;
}
static void c_update(informer *inf, json_object *o, json_object *n, void *data) {
  (void)inf;
  (void)o;
  (void)n;
  ((counts *)data)->updates++;
}
static void c_delete(informer *inf, json_object *obj, void *data) {
  (void)inf;
  (void)obj;
  ((counts *)data)->deletes++;
}

typedef struct wait_adds {
  counts *c;
  int n;
} wait_adds;
static int has_adds(void *data) {
  wait_adds *w = data;
  return w->c->adds >= w->n;
}

static void test_shared_informers(void **state) {
  it_env env;
  (void)state;
  it_env_init(&env);
  const char *ns = it_namespace(&env, "it-share");
  apply_opts ao = {.client = env.c, .res = &KC_CONFIGMAPS, .owner_labels = OWNER};
  ensure(&env, &ao, configmap(ns, "a", "1", 1));
  ensure(&env, &ao, configmap(ns, "b", "1", 1));

  informer_factory *f = informer_factory_new(NULL);
  informer_opts o = {.res = &KC_CONFIGMAPS, .namespace_ = ns, .label_selector = "kf.test/owner=apply"};
  informer_opts other = o;
  other.label_selector = "kf.test/owner=other";
  int rc = -1;
  informer *inf = informer_factory_get(f, env.c, &o, &rc);
  assert_int_equal(rc, 0);
  /* The same (client, resource, namespace, selectors) is one informer; another selector is not. */
  assert_ptr_equal(informer_factory_get(f, env.c, &o, NULL), inf);
  informer *inf2 = informer_factory_get(f, env.c, &other, NULL);
  assert_ptr_not_equal(inf2, inf);

  counts first = {0}, second = {0}, late = {0};
  informer_handlers h1 = {c_add, c_update, c_delete, &first}, h2 = {c_add, c_update, c_delete, &second};
  informer_handlers h3 = {c_add, c_update, c_delete, &late};
  assert_int_equal(informer_add_handlers(inf, &h1), 0);
  assert_int_equal(informer_add_handlers(inf, &h2), 0);
  informer_factory_start(f);
  assert_int_equal(it_run_until(&env, synced, inf, 30000), 0);
  assert_int_equal(it_run_until(&env, synced, inf2, 30000), 0);
  assert_true(informer_factory_synced(f, env.c));
  assert_int_equal(first.adds, 2);
  assert_int_equal(second.adds, 2);

  /* A set added after the list gets the cache as adds, from the loop, then events. */
  assert_int_equal(informer_add_handlers(inf, &h3), 0);
  assert_int_equal(late.adds, 0);
  wait_adds w = {&late, 2};
  assert_int_equal(it_run_until(&env, has_adds, &w, 10000), 0);
  assert_int_equal(late.adds, 2);
  /* An index asked for after the start is refused, not silently missing. */
  informer_opts indexed = o;
  const char *idx[] = {"kf.test/owner", NULL};
  indexed.index_labels = idx;
  assert_null(informer_factory_get(f, env.c, &indexed, &rc));
  assert_int_equal(rc, -EBUSY);

  /* One watch serves all three: a new object reaches each set once. */
  ensure(&env, &ao, configmap(ns, "c", "1", 1));
  wait_adds all = {&late, 3};
  assert_int_equal(it_run_until(&env, has_adds, &all, 10000), 0);
  it_run_for(&env, 200);
  assert_int_equal(first.adds, 3);
  assert_int_equal(second.adds, 3);
  assert_int_equal(late.adds, 3);
  assert_int_equal(first.deletes + second.deletes + late.deletes, 0);

  /* With the cache, an unchanged object costs no request at all. */
  apply_opts cached = ao;
  cached.cache = inf;
  outcome out = ensure(&env, &cached, configmap(ns, "c", "1", 1));
  assert_int_equal(out.rc, 0);
  assert_false(out.wrote);
  assert_string_equal(out.value, "1");

  /* Read your own writes: with the watch paused, a write the cache has not seen yet is put there
   * by the writer; an older copy never replaces a newer one. */
  informer_pause(inf);
  json_object *before = informer_get(inf, ns, "c");
  assert_non_null(before);
  it_result r = {0};
  json_object *changed = configmap(ns, "c", "2", 1);
  kc_apply(env.c, &KC_CONFIGMAPS, changed, NULL, it_cb, &r);
  json_object_put(changed);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  json_object *stale = informer_get(inf, ns, "c");
  assert_string_equal(kc_obj_str(stale, "data.k"), "1");
  json_object_put(stale);
  assert_int_equal(informer_update_cache(inf, r.obj), 1);
  json_object *mine = informer_get(inf, ns, "c");
  assert_string_equal(kc_obj_str(mine, "data.k"), "2");
  json_object_put(mine);
  assert_int_equal(informer_update_cache(inf, before), 0);
  json_object_put(before);
  it_result_reset(&r);
  informer_resume(inf);

  informer_factory_forget(f, env.c);
  assert_true(informer_factory_synced(f, env.c)); /* nothing left for this client */
  informer_factory_close(f);
  it_run_for(&env, 100);
  it_env_free(&env);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_ensure_and_delete),
                                     cmocka_unit_test(test_create_by_post_then_apply),
                                     cmocka_unit_test(test_assume_absent), cmocka_unit_test(test_shared_informers)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
