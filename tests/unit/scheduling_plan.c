/* scheduling.plan: the preferences annotation, the replica planner with every vector of reference
 * federation-controller-manager-v1.md §4.4 (v1's planner_test.go and the namespace/name keys), the
 * HPA bounds division (§3.7, every pass: the first split, lending from idle member HPAs, shrinking)
 * and the Job division (§3.8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scheduling/scheduling.h"

#define U SCHED_UNBOUNDED

/* Builds prefs from a list of {cluster, min, max, weight}. */
static void prefs_of(sched_prefs *p, int rebalance, const sched_cluster_pref *c, size_t n) {
  memset(p, 0, sizeof(*p));
  p->rebalance = rebalance;
  p->n = n;
  p->clusters = calloc(n, sizeof(*p->clusters));
  for (size_t i = 0; i < n; i++) {
    p->clusters[i] = c[i];
    p->clusters[i].cluster = strdup(c[i].cluster);
  }
}

typedef struct vec {
  const char *names;   /* "ABC": one-letter members */
  int64_t current[5];  /* -1: no object */
  int64_t capacity[5]; /* -1: unknown */
  int64_t replicas;
  const char *key;
  int64_t plan[5], overflow[5];
} vec;

static void check(const sched_prefs *p, const vec *v) {
  size_t n = strlen(v->names);
  sched_member m[5] = {{0}};
  char names[5][2] = {{0}};
  int64_t plan[5], overflow[5];
  kf_error err = {0};
  for (size_t i = 0; i < n; i++) {
    names[i][0] = v->names[i];
    names[i][1] = '\0';
    m[i] = (sched_member){.name = names[i], .current = v->current[i], .capacity = v->capacity[i]};
  }
  assert_int_equal(sched_plan(p, v->replicas, m, n, v->key, plan, overflow, &err), 0);
  for (size_t i = 0; i < n; i++) {
    if (plan[i] != v->plan[i] || overflow[i] != v->overflow[i])
      fail_msg("%s over %s key \"%s\": member %s planned %lld overflow %lld, want %lld and %lld", v->names, v->names,
               v->key, names[i], (long long)plan[i], (long long)overflow[i], (long long)v->plan[i],
               (long long)v->overflow[i]);
  }
}

#define NONE \
  { -1, -1, -1, -1, -1 }

static void test_fnv1(void **state) {
  (void)state;
  assert_int_equal(sched_fnv1("A", ""), 0x050c5d5e);
  assert_int_equal(sched_fnv1("B", ""), 0x050c5d5d);
  assert_int_equal(sched_fnv1("C", ""), 0x050c5d5c);
  assert_int_equal(sched_fnv1("D", ""), 0x050c5d5b);
  assert_int_equal(sched_fnv1("B", "default/web"), 0x35946333);
  assert_int_equal(sched_fnv1("C", "default/web"), 0x99f90c0c);
  assert_int_equal(sched_fnv1("A", "default/web"), 0xb2df51ca);
}

static void test_star_weight1(void **state) {
  (void)state;
  sched_prefs p;
  const sched_cluster_pref star = {"*", 0, U, 1};
  prefs_of(&p, 0, &star, 1);
  check(&p, &(vec){"ABC", NONE, NONE, 50, "", {16, 17, 17}, {0}});
  check(&p, &(vec){"AB", NONE, NONE, 1, "", {0, 1}, {0}});
  /* current replicas kept without rebalance */
  check(&p, &(vec){"ABC", {-1, -1, 30}, NONE, 50, "", {10, 10, 30}, {0}});
  /* upstream TODO ("should be 10:40", kubernetes#31816): v1's answer is the vector */
  check(&p, &(vec){"AB", {10, 70}, NONE, 50, "", {0, 50}, {0}});
  /* the production keys change the tie order */
  check(&p, &(vec){"ABC", NONE, NONE, 50, "default/web", {16, 17, 17}, {0}});
  check(&p, &(vec){"AB", NONE, NONE, 1, "default/web", {0, 1}, {0}});
  check(&p, &(vec){"ABC", NONE, NONE, 50, "ns1/app", {17, 16, 17}, {0}});
  check(&p, &(vec){"AB", NONE, NONE, 1, "ns1/app", {1, 0}, {0}});
  sched_prefs_free(&p);
}

static void test_capacity_overflow(void **state) {
  (void)state;
  sched_prefs p;
  const sched_cluster_pref star = {"*", 0, U, 1};
  const sched_cluster_pref ab2[] = {{"A", 0, U, 1}, {"B", 0, U, 2}};
  const sched_cluster_pref ab1[] = {{"A", 0, U, 1}, {"B", 0, U, 1}};
  prefs_of(&p, 1, &star, 1);
  check(&p, &(vec){"ABC", NONE, {-1, -1, 10}, 50, "", {20, 20, 10}, {0, 0, 7}});
  sched_prefs_free(&p);
  prefs_of(&p, 1, ab2, 2);
  check(&p, &(vec){"ABC", NONE, {-1, 10, -1}, 60, "", {50, 10, 0}, {0, 30, 0}});
  sched_prefs_free(&p);
  /* without rebalance, overflow is what found no place: all of it here (C has no preference) */
  prefs_of(&p, 0, ab1, 2);
  check(&p, &(vec){"ABC", NONE, {10, 10, -1}, 60, "", {10, 10, 0}, {20, 20, 0}});
  sched_prefs_free(&p);
}

static void test_min_max(void **state) {
  (void)state;
  sched_prefs p;
  const sched_cluster_pref min20 = {"*", 20, U, 0};
  const sched_cluster_pref min10max12 = {"*", 10, 12, 1};
  const sched_cluster_pref five[] = {
      {"A", 0, 10, 10000}, {"B", 0, U, 1}, {"C", 0, 21, 1}, {"D", 0, 10, 1}, {"E", 0, U, 1}};
  prefs_of(&p, 0, &min20, 1);
  check(&p, &(vec){"ABC", NONE, NONE, 50, "", {10, 20, 20}, {0}});
  sched_prefs_free(&p);
  prefs_of(&p, 0, &min10max12, 1);
  check(&p, &(vec){"ABC", NONE, NONE, 50, "", {12, 12, 12}, {0}});
  sched_prefs_free(&p);
  prefs_of(&p, 0, five, 5);
  check(&p, &(vec){"ABCDE", NONE, NONE, 91, "", {10, 25, 21, 10, 25}, {0}});
  sched_prefs_free(&p);
}

static void test_plan_edges(void **state) {
  (void)state;
  sched_prefs p;
  sched_member m = {.name = "A", .current = -1, .capacity = -1};
  int64_t plan, overflow;
  kf_error err = {0};
  const sched_cluster_pref star = {"*", 0, U, 1};
  prefs_of(&p, 0, &star, 1);
  /* zero members, zero replicas */
  assert_int_equal(sched_plan(&p, 50, NULL, 0, "", &plan, &overflow, &err), 0);
  check(&p, &(vec){"AB", NONE, NONE, 0, "", {0, 0}, {0}});
  assert_int_equal(sched_plan(&p, -1, &m, 1, "", &plan, &overflow, &err), -EINVAL);
  assert_int_equal(sched_plan(&p, (int64_t)SCHED_MAX_VALUE + 1, &m, 1, "", &plan, &overflow, &err), -EINVAL);
  /* the largest count and weight do not overflow the rounding arithmetic */
  assert_int_equal(sched_plan(&p, SCHED_MAX_VALUE, &m, 1, "", &plan, &overflow, &err), 0);
  assert_int_equal(plan, SCHED_MAX_VALUE);
  p.clusters[0].weight = SCHED_MAX_VALUE;
  check(&p, &(vec){"ABC", NONE, NONE, 50, "", {16, 17, 17}, {0}});
  sched_prefs_free(&p);
}

static void test_prefs_parse(void **state) {
  (void)state;
  sched_prefs p;
  kf_error err = {0};
  /* absent: the default */
  assert_int_equal(sched_prefs_parse(NULL, &p, &err), 0);
  assert_int_equal(p.n, 1);
  assert_string_equal(p.clusters[0].cluster, "*");
  assert_int_equal(p.clusters[0].weight, 1);
  assert_int_equal(p.clusters[0].max_replicas, U);
  assert_false(p.rebalance);
  sched_prefs_free(&p);
  /* field names in any case; cluster names as written; unknown fields ignored; null max */
  assert_int_equal(sched_prefs_parse("{\"Rebalance\":true,\"CLUSTERS\":{\"a\":{\"minreplicas\":2,\"MaxReplicas\":10,"
                                     "\"WEIGHT\":3,\"x\":[1]},\"*\":{\"maxReplicas\":null,\"weight\":1}},\"y\":{}}",
                                     &p, &err),
                   0);
  assert_true(p.rebalance);
  assert_int_equal(p.n, 2);
  for (size_t i = 0; i < p.n; i++) {
    if (!strcmp(p.clusters[i].cluster, "a")) {
      assert_int_equal(p.clusters[i].min_replicas, 2);
      assert_int_equal(p.clusters[i].max_replicas, 10);
      assert_int_equal(p.clusters[i].weight, 3);
    } else {
      assert_string_equal(p.clusters[i].cluster, "*");
      assert_int_equal(p.clusters[i].max_replicas, U);
      assert_int_equal(p.clusters[i].min_replicas, 0);
    }
  }
  sched_prefs_free(&p);
  /* the named entry wins over "*", weight 0 gets only its minimum */
  assert_int_equal(sched_prefs_parse("{\"clusters\":{\"*\":{\"weight\":1},\"B\":{\"minReplicas\":3,\"weight\":0}}}", &p,
                                     &err),
                   0);
  check(&p, &(vec){"ABC", NONE, NONE, 10, "", {3, 3, 4}, {0}});
  sched_prefs_free(&p);
  /* no clusters at all: every member 0 (v1: a member with no preference gets nothing) */
  assert_int_equal(sched_prefs_parse("{}", &p, &err), 0);
  check(&p, &(vec){"AB", NONE, NONE, 10, "", {0, 0}, {0}});
  sched_prefs_free(&p);
  /* refused, each leaving the default and a message */
  const char *bad[] = {"",
                       "not json",
                       "[]",
                       "{\"clusters\":[]}",
                       "{\"clusters\":{\"a\":{\"weight\":\"3\"}}}",
                       "{\"clusters\":{\"a\":{\"weight\":1.5}}}",
                       "{\"clusters\":{\"a\":{\"minReplicas\":-1}}}",
                       "{\"clusters\":{\"a\":{\"maxReplicas\":99999999999999999999}}}",
                       "{\"clusters\":{\"a\":{\"weight\":2147483648}}}",
                       "{\"rebalance\":\"yes\"}",
                       "{\"clusters\":{\"a\":5}}",
                       "{} {}",
                       "{\"clusters\":{\"a\":{\"weight\":1}}",
                       NULL};
  for (size_t i = 0; bad[i]; i++) {
    kf_error_clear(&err);
    if (sched_prefs_parse(bad[i], &p, &err) != -EINVAL) fail_msg("accepted %s", bad[i]);
    assert_true(err.msg[0] != '\0');
    assert_int_equal(p.n, 1);
    assert_string_equal(p.clusters[0].cluster, "*");
    assert_int_equal(p.clusters[0].weight, 1);
    sched_prefs_free(&p);
  }
}

static void test_hpa_divide(void **state) {
  (void)state;
  int64_t min[3], max[3];
  kf_error err = {0};
  /* max in chunks of max(2, 10/3) = 3, the rest to the first; min chunks of max(1, 2/3) = 1, then 1 everywhere */
  assert_int_equal(sched_hpa_divide(2, 10, NULL, 3, 0, min, max, &err), 0);
  assert_int_equal(max[0], 4);
  assert_int_equal(max[1], 3);
  assert_int_equal(max[2], 3);
  assert_int_equal(min[0], 1);
  assert_int_equal(min[1], 1);
  assert_int_equal(min[2], 1);
  /* fewer replicas than members: members after the first chunk get no HPA */
  assert_int_equal(sched_hpa_divide(0, 2, NULL, 3, 0, min, max, &err), 0);
  assert_int_equal(max[0], 2);
  assert_int_equal(min[0], 1);
  assert_int_equal(max[1], 0);
  assert_int_equal(min[1], 0);
  assert_int_equal(max[2], 0);
  /* min never above a member's max */
  assert_int_equal(sched_hpa_divide(10, 10, NULL, 3, 0, min, max, &err), 0);
  assert_int_equal(max[0], 4);
  assert_int_equal(min[0], 4);
  assert_int_equal(min[1], 3);
  assert_int_equal(min[2], 3);
  assert_int_equal(sched_hpa_divide(6, 12, NULL, 2, 0, min, max, &err), 0);
  assert_int_equal(min[0], 3);
  assert_int_equal(max[1], 6);
  /* a chunk that fits nowhere shrinks instead of looping */
  assert_int_equal(sched_hpa_divide(5, 5, NULL, 2, 0, min, max, &err), 0);
  assert_int_equal(min[0] + min[1], 5);
  assert_true(min[0] <= max[0] && min[1] <= max[1]);
  /* deterministic: the same input, the same split */
  {
    int64_t min2[3], max2[3];
    assert_int_equal(sched_hpa_divide(4, 17, NULL, 3, 0, min, max, &err), 0);
    assert_int_equal(sched_hpa_divide(4, 17, NULL, 3, 0, min2, max2, &err), 0);
    assert_memory_equal(min, min2, sizeof(min));
    assert_memory_equal(max, max2, sizeof(max));
    assert_int_equal(max[0] + max[1] + max[2], 17);
  }
  assert_int_equal(sched_hpa_divide(1, 5, NULL, 0, 0, min, max, &err), 0);
  assert_int_equal(sched_hpa_divide(5, 4, NULL, 3, 0, min, max, &err), -EINVAL);
  assert_int_equal(sched_hpa_divide(1, (int64_t)SCHED_MAX_VALUE + 1, NULL, 3, 0, min, max, &err), -EINVAL);
}

/* A member HPA for sched_hpa_divide: bounds min..max, status current/desired, last scaled `ago`
 * seconds before NOW (-1: never). */
#define NOW 1000000
static sched_hpa_member hm(int64_t min, int64_t max, int64_t current, int64_t desired, int64_t ago) {
  return (sched_hpa_member){.exists = 1,
                            .min = min,
                            .max = max,
                            .current = current,
                            .desired = desired,
                            .last_scale = ago < 0 ? -1 : NOW - ago};
}
#define NO_HPA ((sched_hpa_member){.exists = 0})
#define RESTED 600 /* past SCHED_HPA_SCALE_WINDOW_S */
#define RECENT 10  /* within it */

static void hpa_is(const int64_t *min, const int64_t *max, size_t n, const int64_t *want) {
  for (size_t i = 0; i < n; i++)
    if (min[i] != want[2 * i] || max[i] != want[2 * i + 1])
      fail_msg("member %zu: %lld..%lld, want %lld..%lld", i, (long long)min[i], (long long)max[i],
               (long long)want[2 * i], (long long)want[2 * i + 1]);
}

/* v1's later passes (hpa.go): bounds lent by idle member HPAs to busy or new ones, and taken back
 * when the federated bounds shrink; members in the order given. */
static void test_hpa_passes(void **state) {
  (void)state;
  int64_t min[3], max[3];
  kf_error err = {0};
  sched_hpa_member m[3];

  /* members without the HPA: the first split, as with no members at all */
  m[0] = m[1] = m[2] = NO_HPA;
  assert_int_equal(sched_hpa_divide(6, 9, m, 3, NOW, min, max, &err), 0);
  hpa_is(min, max, 3, (int64_t[]){2, 3, 2, 3, 2, 3});

  /* at rest: the split stands. Pristine HPAs (their controller has not decided yet) lend, idle ones
   * past the window lend, ones that scaled a moment ago do not: nobody needs, nothing moves (v1
   * then shuffled the lent units round the members in map order). */
  m[0] = hm(2, 3, 0, 0, -1);
  m[1] = hm(2, 3, 2, 2, RESTED);
  m[2] = hm(2, 3, 2, 2, RECENT);
  assert_int_equal(sched_hpa_divide(6, 9, m, 3, NOW, min, max, &err), 0);
  hpa_is(min, max, 3, (int64_t[]){2, 3, 2, 3, 2, 3});

  /* a busy member (at its max, wanting it, past the window) borrows one max from the idle one, and
   * one min (it wants more than its min); the member that scaled a moment ago is left alone */
  m[0] = hm(2, 3, 3, 3, RESTED);
  m[1] = hm(2, 3, 2, 2, RESTED);
  m[2] = hm(2, 3, 2, 2, RECENT);
  assert_int_equal(sched_hpa_divide(6, 9, m, 3, NOW, min, max, &err), 0);
  hpa_is(min, max, 3, (int64_t[]){3, 4, 1, 2, 2, 3});
  /* ... but not before its own window has passed */
  m[0] = hm(2, 3, 3, 3, RECENT);
  assert_int_equal(sched_hpa_divide(6, 9, m, 3, NOW, min, max, &err), 0);
  hpa_is(min, max, 3, (int64_t[]){2, 3, 2, 3, 2, 3});
  /* a busy member and nobody idle: only what the federated max has beyond the members' sum */
  m[0] = hm(2, 3, 3, 3, RESTED);
  m[1] = hm(2, 3, 2, 2, RECENT);
  assert_int_equal(sched_hpa_divide(6, 9, m, 3, NOW, min, max, &err), 0);
  hpa_is(min, max, 3, (int64_t[]){2, 3, 2, 3, 2, 3});
  assert_int_equal(sched_hpa_divide(6, 10, m, 3, NOW, min, max, &err), 0);
  hpa_is(min, max, 3, (int64_t[]){2, 4, 2, 3, 2, 3});

  /* a member joins: 6..9 was 3..5 and 3..4 over two; both idle past the window lend a max and a
   * min each, one by one, to the newcomer */
  m[0] = hm(3, 5, 3, 3, RESTED);
  m[1] = hm(3, 4, 3, 3, RESTED);
  m[2] = NO_HPA;
  assert_int_equal(sched_hpa_divide(6, 9, m, 3, NOW, min, max, &err), 0);
  hpa_is(min, max, 3, (int64_t[]){2, 4, 2, 3, 2, 2});
  /* ... pristine ones lend too (v1's isPristine) */
  m[0] = hm(3, 5, 0, 0, -1);
  m[1] = hm(3, 4, 0, 0, -1);
  assert_int_equal(sched_hpa_divide(6, 9, m, 3, NOW, min, max, &err), 0);
  hpa_is(min, max, 3, (int64_t[]){2, 4, 2, 3, 2, 2});
  /* ... busy ones do not: the newcomer gets no HPA until something is free */
  m[0] = hm(3, 5, 3, 3, RECENT);
  m[1] = hm(3, 4, 4, 4, RESTED);
  assert_int_equal(sched_hpa_divide(6, 9, m, 3, NOW, min, max, &err), 0);
  hpa_is(min, max, 3, (int64_t[]){3, 5, 3, 4, 0, 0});
  /* ... and of a federated max raised meanwhile, the busy member takes one first (v1's pass order),
   * the newcomer the rest (in chunks of max(2, 12/3)) */
  assert_int_equal(sched_hpa_divide(6, 12, m, 3, NOW, min, max, &err), 0);
  hpa_is(min, max, 3, (int64_t[]){3, 5, 3, 5, 1, 2});

  /* ... a federated min raised meanwhile that the newcomer cannot take (it has no max) goes to the
   * members that have the HPA, in chunks of max(1, 8/3) */
  assert_int_equal(sched_hpa_divide(8, 9, m, 3, NOW, min, max, &err), 0);
  hpa_is(min, max, 3, (int64_t[]){5, 5, 3, 4, 0, 0});

  /* the federated bounds shrink: lenders give first, then one from each member round by round */
  m[0] = m[1] = m[2] = hm(2, 3, 2, 2, RECENT);
  assert_int_equal(sched_hpa_divide(3, 6, m, 3, NOW, min, max, &err), 0);
  hpa_is(min, max, 3, (int64_t[]){1, 2, 1, 2, 1, 2});
  m[0] = hm(2, 3, 0, 0, -1); /* pristine: lends first */
  assert_int_equal(sched_hpa_divide(5, 8, m, 3, NOW, min, max, &err), 0);
  hpa_is(min, max, 3, (int64_t[]){1, 2, 2, 3, 2, 3});
  /* ... never a max below its min (v1 could write one the apiserver refuses) */
  m[0] = m[1] = hm(2, 3, 2, 2, RECENT);
  assert_int_equal(sched_hpa_divide(3, 3, m, 2, NOW, min, max, &err), 0);
  hpa_is(min, max, 2, (int64_t[]){1, 1, 2, 2});
  /* ... and a member shrunk to max 0 gets no HPA */
  m[0] = hm(1, 1, 1, 1, RECENT);
  m[1] = hm(1, 2, 1, 1, RECENT);
  assert_int_equal(sched_hpa_divide(1, 2, m, 2, NOW, min, max, &err), 0);
  assert_int_equal(min[0] + min[1] >= 1, 1);
  assert_int_equal(max[0] + max[1], 2);
  assert_true(min[0] <= max[0] && min[1] <= max[1]);

  /* a member's HPA as its apiserver returns it */
  {
    json_object *o = json_tokener_parse(
        "{\"spec\":{\"minReplicas\":2,\"maxReplicas\":3},\"status\":{\"currentReplicas\":2,"
        "\"desiredReplicas\":3,\"lastScaleTime\":\"2026-12-06T10:31:09Z\"}}");
    sched_hpa_member h = sched_hpa_member_of(o);
    assert_true(h.exists);
    assert_int_equal(h.min, 2);
    assert_int_equal(h.max, 3);
    assert_int_equal(h.current, 2);
    assert_int_equal(h.desired, 3);
    assert_int_equal(h.last_scale, 1796553069);
    json_object_put(o);
    o = json_tokener_parse("{\"spec\":{\"maxReplicas\":\"lots\"},\"status\":{\"lastScaleTime\":\"soon\"}}");
    h = sched_hpa_member_of(o);
    assert_int_equal(h.min, 1); /* the apiserver's default */
    assert_int_equal(h.max, 0);
    assert_int_equal(h.last_scale, -1);
    json_object_put(o);
    h = sched_hpa_member_of(NULL);
    assert_false(h.exists);
  }

  /* when the next member passes its scale window: the division may change then */
  m[0] = hm(2, 3, 2, 2, RESTED);
  m[1] = hm(2, 3, 2, 2, 100);
  m[2] = hm(2, 3, 2, 2, 250);
  assert_int_equal(sched_hpa_next_rest(m, 3, NOW), SCHED_HPA_SCALE_WINDOW_S - 250);
  m[1] = m[2] = hm(2, 3, 0, 0, -1);
  assert_int_equal(sched_hpa_next_rest(m, 3, NOW), -1);
  assert_int_equal(sched_hpa_next_rest(NULL, 3, NOW), -1);

  /* garbage from a member (max below min, negative) is clamped, never a crash or a loop */
  m[0] = hm(5, 2, -3, 9, RESTED);
  m[1] = hm(-1, -1, 0, 0, -1);
  m[2] = hm((int64_t)SCHED_MAX_VALUE + 9, (int64_t)SCHED_MAX_VALUE + 9, 0, 0, RESTED);
  assert_int_equal(sched_hpa_divide(6, 9, m, 3, NOW, min, max, &err), 0);
  for (int i = 0; i < 3; i++) assert_true(min[i] <= max[i] && (max[i] == 0 || min[i] >= 1));
}

static void test_job_divide(void **state) {
  (void)state;
  sched_prefs p;
  kf_error err = {0};
  const char *const m[] = {"a", "b", "c"};
  int64_t par[3], comp[3];
  sched_prefs_default(&p);
  /* the kubernetes.io example: parallelism 9, completions 18 over three members */
  assert_int_equal(sched_job_divide(&p, 9, 18, m, 3, "default/pi", par, comp, &err), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(par[i], 3);
    assert_int_equal(comp[i], 6);
  }
  /* completions unset stays unset */
  assert_int_equal(sched_job_divide(&p, 9, -1, m, 3, "default/pi", par, comp, &err), 0);
  for (int i = 0; i < 3; i++) assert_int_equal(comp[i], -1);
  /* completions only where pods run: one member with parallelism 1 gets all 3 completions */
  assert_int_equal(sched_job_divide(&p, 1, 3, m, 3, "default/pi", par, comp, &err), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(comp[i], par[i] ? 3 : 0);
  }
  assert_int_equal(par[0] + par[1] + par[2], 1);
  sched_prefs_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fnv1),       cmocka_unit_test(test_star_weight1), cmocka_unit_test(test_capacity_overflow),
      cmocka_unit_test(test_min_max),    cmocka_unit_test(test_plan_edges),   cmocka_unit_test(test_prefs_parse),
      cmocka_unit_test(test_hpa_divide), cmocka_unit_test(test_hpa_passes),   cmocka_unit_test(test_job_divide),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
