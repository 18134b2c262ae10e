/* kube.informer: the informer's cache equals a fresh list after rapid changes,
 * after a stale resume (410 Gone, relist), and the raw watch reports 410. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kf/informer.h>
#include "it.h"
#include <kf/watch.h>

/* What the handlers saw, replayed into a key -> resourceVersion map: it must end
 * equal to the cache, proving no event was lost or reordered. */
typedef struct shadow {
  json_object *seen;
  int adds, updates, deletes;
} shadow;

static void sh_add(informer *inf, json_object *obj, void *data) {
  shadow *s = data;
  (void)inf;
  char *k = informer_key_of(obj);
  json_object_object_add(s->seen, k, json_object_new_string(kc_obj_str(obj, "metadata.resourceVersion")));
  free(k);
  s->adds++;
}

static void sh_update(informer *inf, json_object *o, json_object *n, void *data) {
  shadow *s = data;
  (void)o;
  (void)inf;
  char *k = informer_key_of(n);
  json_object_object_add(s->seen, k, json_object_new_string(kc_obj_str(n, "metadata.resourceVersion")));
  free(k);
  s->updates++;
}

static void sh_delete(informer *inf, json_object *obj, void *data) {
  shadow *s = data;
  (void)inf;
  char *k = informer_key_of(obj);
  json_object_object_del(s->seen, k);
  free(k);
  s->deletes++;
}

static json_object *labelled_cm(const char *ns, const char *name, int value) {
  char *txt = kf_asprintf("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
                          "\"namespace\":\"%s\",\"labels\":{\"app\":\"it\",\"group\":\"g%d\"}},"
                          "\"data\":{\"v\":\"%d\"}}",
                          name, ns, value % 3, value);
  json_object *o = it_json(txt);
  free(txt);
  return o;
}

/* Cache == fresh list (same keys, same resourceVersions) == what handlers saw. */
typedef struct compare {
  it_env *env;
  informer *inf;
  shadow *sh;
  const char *ns;
  it_result list;
  int asked, equal;
} compare;

static int cache_matches_list(void *data) {
  compare *c = data;
  if (!c->asked) {
    kc_list_opts o = {.label_selector = "app=it"};
    it_result_reset(&c->list);
    kc_list_all(c->env->c, &KC_CONFIGMAPS, c->ns, &o, it_cb, &c->list);
    c->asked = 1;
  }
  if (!c->list.done) return 0;
  c->asked = 0;
  assert_int_equal(c->list.rc, 0);
  json_object *items = kc_obj_get(c->list.obj, "items");
  size_t n = json_object_array_length(items);
  if (n != informer_len(c->inf) || (size_t)json_object_object_length(c->sh->seen) != n) return 0;
  for (size_t i = 0; i < n; i++) {
    json_object *it = json_object_array_get_idx(items, i);
    json_object *cached = informer_get(c->inf, c->ns, kc_obj_str(it, "metadata.name"));
    const char *rv = kc_obj_str(it, "metadata.resourceVersion");
    json_object *seen;
    int same = cached && strcmp(kc_obj_str(cached, "metadata.resourceVersion"), rv) == 0;
    if (cached) json_object_put(cached);
    if (!same) return 0;
    char *k = kf_asprintf("%s/%s", c->ns, kc_obj_str(it, "metadata.name"));
    int ok = json_object_object_get_ex(c->sh->seen, k, &seen) && strcmp(json_object_get_string(seen), rv) == 0;
    free(k);
    if (!ok) return 0;
  }
  c->equal = 1;
  return 1;
}

static int synced(void *data) { return informer_has_synced(data); }

static void run_changes(it_env *env, const char *ns, int n, unsigned seed) {
  /* Patches and deletes of names not created yet are expected to be NotFound. */
  it_batch o = {.tolerate = KC_ERR_NOTFOUND};
  srand(seed);
  for (int i = 0; i < n; i++) {
    char name[32];
    int which = rand() % 150;
    snprintf(name, sizeof(name), "cm-%03d", which);
    int kind = rand() % 10;
    json_object *cm = labelled_cm(ns, name, i);
    o.started++;
    if (kind < 6) {
      kc_apply(env->c, &KC_CONFIGMAPS, cm, NULL, it_batch_cb, &o); /* create or update */
    } else if (kind < 8) {
      json_object *p = it_json("{\"metadata\":{\"labels\":{\"group\":\"moved\"}}}");
      kc_patch(env->c, &KC_CONFIGMAPS, ns, name, KC_PATCH_MERGE, p, NULL, it_batch_cb, &o);
      json_object_put(p);
    } else {
      kc_delete(env->c, &KC_CONFIGMAPS, ns, name, NULL, it_batch_cb, &o);
    }
    json_object_put(cm);
    it_batch_throttle(env, &o, 32);
  }
  assert_int_equal(it_run_until(env, it_batch_finished, &o, 120000), 0);
  assert_int_equal(o.failed, 0);
}

static size_t count_cb_n;
static void count_cb(json_object *obj, void *data) {
  (void)obj;
  (void)data;
  count_cb_n++;
}

static void no_managed_fields(json_object *obj, void *data) {
  (void)data;
  assert_null(kc_obj_get(obj, "metadata.managedFields"));
  count_cb_n++;
}

/* An indexer computing what the "group" label index holds. */
static char *group_of(json_object *obj, void *data) {
  (void)data;
  const char *g = kc_obj_key_str(kc_obj_get(obj, "metadata.labels"), "group");
  return g ? kf_strdup(g) : NULL;
}

static void test_cache_equals_list_after_rapid_changes(void **state) {
  it_env env;
  shadow sh = {.seen = json_object_new_object()};
  (void)state;
  it_env_init(&env);
  const char *ns = it_namespace(&env, "it-inf");
  const char *idx[] = {"group", NULL};
  informer_opts o = {
      .res = &KC_CONFIGMAPS, .namespace_ = ns, .label_selector = "app=it", .index_labels = idx, .page_size = 50};
  informer_handlers h = {sh_add, sh_update, sh_delete, &sh};
  informer *inf = informer_new(env.c, &o, &h);
  assert_int_equal(informer_add_indexer(inf, "by-group", group_of, NULL), 0);
  informer_start(inf);
  assert_int_equal(it_run_until(&env, synced, inf, 30000), 0);

  run_changes(&env, ns, 1000, 42);

  compare c = {.env = &env, .inf = inf, .sh = &sh, .ns = ns};
  assert_int_equal(it_run_until(&env, cache_matches_list, &c, 60000), 0);
  assert_true(sh.adds > 0 && sh.updates > 0 && sh.deletes > 0);
  /* The label index agrees with the cache. */
  size_t total = 0;
  const char *groups[] = {"g0", "g1", "g2", "moved"};
  for (int g = 0; g < 4; g++) {
    count_cb_n = 0;
    informer_by_label(inf, "group", groups[g], count_cb, NULL);
    total += count_cb_n;
    /* A computed index is kept as well, and counts without parsing. */
    assert_int_equal(informer_index_count(inf, "by-group", groups[g]), count_cb_n);
    count_cb_n = 0;
    assert_int_equal(informer_by_index(inf, "by-group", groups[g], count_cb, NULL),
                     informer_index_count(inf, "by-group", groups[g]));
  }
  assert_int_equal(total, informer_len(inf));
  /* managedFields are not cached: the cache holds what reconcilers read, not field ownership. */
  count_cb_n = 0;
  informer_foreach(inf, no_managed_fields, NULL);
  assert_int_equal(count_cb_n, informer_len(inf));
  it_result_reset(&c.list);

  informer_close(inf);
  json_object_put(sh.seen);
  it_env_free(&env);
}

static void test_apiserver_restart_and_stale_resume(void **state) {
  it_env env;
  shadow sh = {.seen = json_object_new_object()};
  (void)state;
  it_env_init(&env);
  const char *ns = it_namespace(&env, "it-gone");
  informer_opts o = {.res = &KC_CONFIGMAPS, .namespace_ = ns, .label_selector = "app=it"};
  informer_handlers h = {sh_add, sh_update, sh_delete, &sh};
  informer *inf = informer_new(env.c, &o, &h);
  kf_metrics *m = kf_metrics_new("kubefed_");
  informer_set_metrics(inf, m);
  informer_start(inf);
  assert_int_equal(it_run_until(&env, synced, inf, 30000), 0);
  run_changes(&env, ns, 200, 7);
  compare c = {.env = &env, .inf = inf, .sh = &sh, .ns = ns};
  assert_int_equal(it_run_until(&env, cache_matches_list, &c, 60000), 0);
  it_result_reset(&c.list);

  /* Disconnect, change things, and make the resume point expire by restarting the
   * apiserver after compacting etcd: its new watch cache starts past our resourceVersion. */
  informer_pause(inf);
  run_changes(&env, ns, 200, 8);
  const char *harness = getenv("HARNESS");
  assert_non_null(harness);
  char *cmd = kf_asprintf("%s restart %s --compact >&2", harness, it_cluster_name());
  assert_int_equal(system(cmd), 0);
  free(cmd);
  uint64_t relists = informer_relists(inf);
  informer_resume(inf);
  c.equal = 0;
  assert_int_equal(it_run_until(&env, cache_matches_list, &c, 120000), 0);
  assert_true(informer_relists(inf) > relists);
  it_result_reset(&c.list);

  /* Killed mid-watch, no pause: the informer reconnects by itself and keeps up. */
  uint64_t restarts = informer_watch_restarts(inf);
  cmd = kf_asprintf("%s restart %s >&2", harness, it_cluster_name());
  assert_int_equal(system(cmd), 0);
  free(cmd);
  run_changes(&env, ns, 200, 9);
  c.equal = 0;
  assert_int_equal(it_run_until(&env, cache_matches_list, &c, 120000), 0);
  assert_true(informer_watch_restarts(inf) > restarts);
  it_result_reset(&c.list);
  assert_true(kf_metrics_get(m, "relists_total", "resource=\"configmaps\"") >= 2);
  assert_true(kf_metrics_get(m, "watch_restarts_total", "resource=\"configmaps\"") >= 1);
  char *text = kf_metrics_render(m);
  assert_non_null(strstr(text, "# TYPE kubefed_watch_restarts_total counter"));
  free(text);

  informer_close(inf);
  json_object_put(sh.seen);
  it_env_free(&env);
  kf_metrics_free(m);
}

typedef struct watch_end {
  int ended, rc;
  kf_error err;
} watch_end;

static void ignore_event(kc_watch *w, const char *type, json_object *obj, void *data) {
  (void)w;
  (void)type;
  (void)obj;
  (void)data;
}

static void on_end(kc_watch *w, int rc, const kf_error *err, void *data) {
  watch_end *e = data;
  (void)w;
  e->ended = 1;
  e->rc = rc;
  if (err) e->err = *err;
}

static int ended(void *data) { return ((watch_end *)data)->ended; }

static void test_watch_from_expired_version_is_gone(void **state) {
  it_env env;
  watch_end e = {0};
  kf_error err;
  kc_watch *w;
  (void)state;
  it_env_init(&env);
  const char *ns = it_namespace(&env, "it-410");
  run_changes(&env, ns, 20, 3);
  /* A fresh watch cache replays its whole state for an old resourceVersion; after
   * compaction and a restart the old version is gone for good. */
  char *cmd = kf_asprintf("%s restart %s --compact >&2", getenv("HARNESS"), it_cluster_name());
  assert_int_equal(system(cmd), 0);
  free(cmd);
  kc_watch_opts o = {.resource_version = "1", .timeout_seconds = 30};
  assert_int_equal(kc_watch_start(env.c, &KC_CONFIGMAPS, ns, &o, ignore_event, on_end, &e, &w, &err), 0);
  assert_int_equal(it_run_until(&env, ended, &e, 40000), 0);
  if (e.rc != KC_ERR_GONE) fail_msg("watch from resourceVersion 1 ended with %d: %s", e.rc, e.err.msg);
  assert_int_equal(e.err.http_status, 410);
  it_env_free(&env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cache_equals_list_after_rapid_changes),
      cmocka_unit_test(test_watch_from_expired_version_is_gone),
      cmocka_unit_test(test_apiserver_restart_and_stale_resume),
  };
  return cmocka_run_group_tests_name("kube.informer", tests, NULL, NULL);
}
