/* scheduling.status: members' Deployment, ReplicaSet, StatefulSet and Job status summed into the
 * federated object's, with the observedGeneration rule, the Available condition and the
 * apiserver's Job status rules; and written only when it changes. What a member runs and cannot
 * run, for the planner: sched_current, sched_unschedulable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kf/cond.h>
#include <kf/kc.h>

#include "scheduling/scheduling.h"

static json_object *j(const char *text) {
  json_object *o = json_tokener_parse(text);
  if (!o) fail_msg("bad JSON in test: %s", text);
  return o;
}

static int64_t num(json_object *o, const char *path) {
  json_object *v = kc_obj_get(o, path);
  if (!v) fail_msg("no %s in %s", path, json_object_to_json_string(o));
  return json_object_get_int64(v);
}

/* The federated object with st as its status (st consumed). */
static json_object *with_status(json_object *fed, json_object *st) {
  json_object_object_add(fed, "status", st);
  return fed;
}

static json_object *deploy(int gen, int observed, int replicas, int ready, int avail, const char *available) {
  char buf[512];
  snprintf(buf, sizeof(buf),
           "{\"metadata\":{\"generation\":%d},\"status\":{\"observedGeneration\":%d,\"replicas\":%d,"
           "\"updatedReplicas\":%d,\"readyReplicas\":%d,\"availableReplicas\":%d,\"unavailableReplicas\":%d,"
           "\"conditions\":[{\"type\":\"Available\",\"status\":\"%s\"}]}}",
           gen, observed, replicas, replicas, ready, avail, replicas - avail, available);
  return j(buf);
}

static void test_deployment(void **state) {
  (void)state;
  json_object *fed = j("{\"metadata\":{\"generation\":7},\"status\":{\"observedGeneration\":6}}");
  json_object *m[3] = {deploy(2, 2, 16, 16, 16, "True"), deploy(1, 1, 17, 10, 10, "True"),
                       deploy(5, 4, 17, 0, 0, "False")};
  json_object *st;
  int changed;

  /* member 2 has not observed its latest spec: observedGeneration stays the federation's old one */
  st = sched_workload_status(SCHED_KIND_DEPLOYMENT, fed, m, 3, "2026-12-06T07:00:00Z", &changed);
  assert_true(changed);
  assert_int_equal(num(st, "replicas"), 50);
  assert_int_equal(num(st, "updatedReplicas"), 50);
  assert_int_equal(num(st, "readyReplicas"), 26);
  assert_int_equal(num(st, "availableReplicas"), 26);
  assert_int_equal(num(st, "unavailableReplicas"), 24);
  assert_int_equal(num(st, "observedGeneration"), 6);
  assert_string_equal(kc_obj_str(cond_find(with_status(fed, st), "Available"), "status"), "False");
  /* now fed's status is st: the same inputs change nothing */
  st = sched_workload_status(SCHED_KIND_DEPLOYMENT, fed, m, 3, "2026-12-06T07:00:05Z", &changed);
  assert_false(changed);
  json_object_put(st);

  /* every member observed and available: the federated generation, Available True */
  json_object_put(m[2]);
  m[2] = deploy(5, 5, 17, 17, 17, "True");
  json_object_put(m[1]);
  m[1] = deploy(1, 1, 17, 17, 17, "True");
  st = sched_workload_status(SCHED_KIND_DEPLOYMENT, fed, m, 3, "2026-12-06T07:01:00Z", &changed);
  assert_true(changed);
  assert_int_equal(num(st, "readyReplicas"), 50);
  assert_int_equal(num(st, "unavailableReplicas"), 0);
  assert_int_equal(num(st, "observedGeneration"), 7);
  with_status(fed, st);
  assert_string_equal(kc_obj_str(cond_find(fed, "Available"), "status"), "True");
  assert_string_equal(kc_obj_str(cond_find(fed, "Available"), "reason"), "MinimumReplicasAvailable");
  assert_string_equal(kc_obj_str(cond_find(fed, "Available"), "lastTransitionTime"), "2026-12-06T07:01:00Z");
  st = sched_workload_status(SCHED_KIND_DEPLOYMENT, fed, m, 3, "2026-12-06T07:02:00Z", &changed);
  assert_false(changed);
  json_object_put(st);

  /* a member without its Deployment yet: not observed, not available */
  json_object_object_add(fed, "metadata", j("{\"generation\":8}"));
  {
    json_object *two[2] = {m[0], NULL};
    st = sched_workload_status(SCHED_KIND_DEPLOYMENT, fed, two, 2, "2026-12-06T07:03:00Z", &changed);
  }
  assert_true(changed);
  assert_int_equal(num(st, "observedGeneration"), 7);
  assert_int_equal(num(st, "replicas"), 16);
  with_status(fed, st);
  assert_string_equal(kc_obj_str(cond_find(fed, "Available"), "status"), "False");
  /* no member at all: not available */
  st = sched_workload_status(SCHED_KIND_DEPLOYMENT, fed, NULL, 0, "2026-12-06T07:04:00Z", &changed);
  assert_int_equal(num(st, "replicas"), 0);
  json_object_put(st);
  for (int i = 0; i < 3; i++) json_object_put(m[i]);
  json_object_put(fed);
}

static void test_replicaset_statefulset(void **state) {
  (void)state;
  json_object *fed = j("{\"metadata\":{\"generation\":1}}");
  json_object *m[2] = {j("{\"metadata\":{\"generation\":1},\"status\":{\"observedGeneration\":1,\"replicas\":3,"
                         "\"fullyLabeledReplicas\":3,\"readyReplicas\":2,\"availableReplicas\":1,"
                         "\"currentReplicas\":3,\"updatedReplicas\":3}}"),
                       j("{\"metadata\":{\"generation\":2},\"status\":{\"observedGeneration\":2,\"replicas\":4,"
                         "\"fullyLabeledReplicas\":4,\"readyReplicas\":4,\"availableReplicas\":4,"
                         "\"currentReplicas\":1,\"updatedReplicas\":4}}")};
  int changed;
  json_object *st = sched_workload_status(SCHED_KIND_REPLICASET, fed, m, 2, "2026-12-06T07:00:00Z", &changed);
  assert_true(changed);
  assert_int_equal(num(st, "replicas"), 7);
  assert_int_equal(num(st, "fullyLabeledReplicas"), 7);
  assert_int_equal(num(st, "readyReplicas"), 6);
  assert_int_equal(num(st, "availableReplicas"), 5);
  assert_int_equal(num(st, "observedGeneration"), 1);
  /* only the kind's own status fields */
  assert_null(kc_obj_get(st, "updatedReplicas"));
  assert_null(kc_obj_get(st, "unavailableReplicas"));
  assert_null(kc_obj_get(st, "conditions"));
  json_object_put(st);
  st = sched_workload_status(SCHED_KIND_STATEFULSET, fed, m, 2, "2026-12-06T07:00:00Z", &changed);
  assert_int_equal(num(st, "currentReplicas"), 4);
  assert_int_equal(num(st, "updatedReplicas"), 7);
  assert_null(kc_obj_get(st, "fullyLabeledReplicas"));
  json_object_put(st);
  /* hostile counts are clamped, not summed into an overflow */
  json_object_put(m[1]);
  m[1] = j("{\"status\":{\"replicas\":9223372036854775807,\"readyReplicas\":-5}}");
  st = sched_workload_status(SCHED_KIND_REPLICASET, fed, m, 2, "2026-12-06T07:00:00Z", &changed);
  assert_int_equal(num(st, "replicas"), 3 + (int64_t)SCHED_MAX_VALUE);
  assert_int_equal(num(st, "readyReplicas"), 2);
  assert_null(kc_obj_get(st, "observedGeneration")); /* member 1 has not observed anything */
  json_object_put(st);
  json_object_put(m[0]);
  json_object_put(m[1]);
  json_object_put(fed);
}

static json_object *job(int active, int succeeded, int failed, const char *start, const char *extra) {
  char buf[1024];
  snprintf(buf, sizeof(buf), "{\"status\":{\"active\":%d,\"succeeded\":%d,\"failed\":%d%s%s%s%s}}", active, succeeded,
           failed, start ? ",\"startTime\":\"" : "", start ? start : "", start ? "\"" : "", extra ? extra : "");
  return j(buf);
}

#define COMPLETE(at)                                                                                      \
  ",\"completionTime\":\"" at "\",\"conditions\":[{\"type\":\"SuccessCriteriaMet\",\"status\":\"True\"}," \
  "{\"type\":\"Complete\",\"status\":\"True\",\"lastTransitionTime\":\"" at "\"}]"

static void test_job_complete(void **state) {
  (void)state;
  json_object *fed = j("{\"metadata\":{\"generation\":1}}");
  json_object *m[3] = {job(3, 0, 0, "2026-12-06T07:00:02Z", NULL), job(3, 1, 0, "2026-12-06T07:00:01Z", NULL), NULL};
  json_object *st;
  int changed;

  st = sched_job_status(fed, m, 3, "2026-12-06T07:00:10Z", &changed);
  assert_true(changed);
  assert_int_equal(num(st, "active"), 6);
  assert_int_equal(num(st, "succeeded"), 1);
  assert_string_equal(kc_obj_str(st, "startTime"), "2026-12-06T07:00:01Z"); /* the earliest */
  assert_null(kc_obj_get(st, "completionTime"));
  assert_null(kc_obj_get(st, "conditions"));
  with_status(fed, st);
  st = sched_job_status(fed, m, 3, "2026-12-06T07:00:11Z", &changed);
  assert_false(changed);
  json_object_put(st);

  /* a member starting earlier later on does not move startTime */
  m[2] = job(3, 0, 0, "2026-12-06T06:59:00Z", NULL);
  st = sched_job_status(fed, m, 3, "2026-12-06T07:00:12Z", &changed);
  assert_string_equal(kc_obj_str(st, "startTime"), "2026-12-06T07:00:01Z");
  assert_int_equal(num(st, "active"), 9);
  with_status(fed, st);

  /* two of three complete: not yet */
  json_object_put(m[0]);
  json_object_put(m[1]);
  m[0] = job(0, 6, 0, "2026-12-06T07:00:02Z", COMPLETE("2026-12-06T07:01:00Z"));
  m[1] = job(0, 6, 1, "2026-12-06T07:00:01Z", COMPLETE("2026-12-06T07:02:00Z"));
  st = sched_job_status(fed, m, 3, "2026-12-06T07:02:01Z", &changed);
  assert_null(cond_find(with_status(fed, st), "Complete"));
  assert_int_equal(num(fed, "status.active"), 3);
  /* all three: Complete with SuccessCriteriaMet and the latest completionTime, active 0 */
  json_object_put(m[2]);
  m[2] = job(0, 6, 0, "2026-12-06T06:59:00Z", COMPLETE("2026-12-06T07:01:30Z"));
  st = sched_job_status(fed, m, 3, "2026-12-06T07:03:00Z", &changed);
  assert_true(changed);
  with_status(fed, st);
  assert_string_equal(kc_obj_str(cond_find(fed, "Complete"), "status"), "True");
  assert_string_equal(kc_obj_str(cond_find(fed, "SuccessCriteriaMet"), "status"), "True");
  assert_null(cond_find(fed, "Failed"));
  assert_string_equal(kc_obj_str(fed, "status.completionTime"), "2026-12-06T07:02:00Z");
  assert_int_equal(num(fed, "status.active"), 0);
  assert_int_equal(num(fed, "status.succeeded"), 18);
  assert_int_equal(num(fed, "status.failed"), 1);
  /* finished: conditions and completionTime stay, even when a member later reports otherwise */
  json_object_put(m[2]);
  m[2] = job(1, 5, 0, "2026-12-06T06:59:00Z", NULL);
  st = sched_job_status(fed, m, 3, "2026-12-06T07:09:00Z", &changed);
  with_status(fed, st);
  assert_string_equal(kc_obj_str(fed, "status.completionTime"), "2026-12-06T07:02:00Z");
  assert_string_equal(kc_obj_str(cond_find(fed, "Complete"), "lastTransitionTime"), "2026-12-06T07:03:00Z");
  assert_int_equal(num(fed, "status.active"), 0);
  for (int i = 0; i < 3; i++) json_object_put(m[i]);
  json_object_put(fed);
}

static void test_job_failed(void **state) {
  (void)state;
  json_object *fed = j("{\"metadata\":{\"generation\":1},\"status\":{\"conditions\":[{\"type\":\"Suspended\","
                       "\"status\":\"False\"}]}}");
  json_object *m[2] = {
      job(2, 0, 0, NULL, NULL),
      job(0, 0, 4, NULL,
          ",\"conditions\":[{\"type\":\"FailureTarget\",\"status\":\"True\",\"reason\":\"BackoffLimitExceeded\"},"
          "{\"type\":\"Failed\",\"status\":\"True\",\"reason\":\"BackoffLimitExceeded\",\"message\":\"Job has "
          "reached the specified backoff limit\",\"lastTransitionTime\":\"2026-12-06T07:05:00Z\"}]")};
  int changed;
  json_object *st = sched_job_status(fed, m, 2, "2026-12-06T07:06:00Z", &changed);
  assert_true(changed);
  with_status(fed, st);
  assert_string_equal(kc_obj_str(cond_find(fed, "Failed"), "reason"), "BackoffLimitExceeded");
  assert_string_equal(kc_obj_str(cond_find(fed, "FailureTarget"), "status"), "True");
  assert_string_equal(kc_obj_str(cond_find(fed, "Suspended"), "status"), "False"); /* not ours: kept */
  assert_null(cond_find(fed, "Complete"));
  assert_null(kc_obj_get(fed, "status.completionTime"));
  assert_string_equal(kc_obj_str(fed, "status.startTime"), "2026-12-06T07:06:00Z"); /* finished needs one */
  assert_int_equal(num(fed, "status.active"), 0);
  assert_int_equal(num(fed, "status.failed"), 4);
  /* failed is final: a member completing later does not make it Complete */
  json_object_put(m[1]);
  m[1] = job(0, 1, 0, NULL, COMPLETE("2026-12-06T07:07:00Z"));
  json_object_put(m[0]);
  m[0] = job(0, 1, 0, NULL, COMPLETE("2026-12-06T07:07:00Z"));
  st = sched_job_status(fed, m, 2, "2026-12-06T07:08:00Z", &changed);
  with_status(fed, st);
  assert_null(cond_find(fed, "Complete"));
  assert_string_equal(kc_obj_str(cond_find(fed, "Failed"), "status"), "True");
  st = sched_job_status(fed, m, 2, "2026-12-06T07:09:00Z", &changed);
  assert_false(changed);
  json_object_put(st);
  json_object_put(m[0]);
  json_object_put(m[1]);
  json_object_put(fed);
}

static void test_unschedulable(void **state) {
  (void)state;
  /* now = 2026-12-06T08:00:00Z; D owns ReplicaSet R; X is somebody else's with the same labels. */
  const int64_t now = 1796544000;
#define POD(owner, phase, cond)                                                                                       \
  "{\"metadata\":{\"labels\":{\"app\":\"web\"},\"ownerReferences\":[{\"uid\":\"" owner "\"}]},\"status\":{\"phase\":" \
  "\"" phase "\",\"conditions\":[" cond "]}}"
#define UNSCHED(at) \
  "{\"type\":\"PodScheduled\",\"status\":\"False\",\"reason\":\"Unschedulable\",\"lastTransitionTime\":\"" at "\"}"
  json_object *pods = j(
      "{\"items\":[" POD("R", "Pending", UNSCHED("2026-12-06T07:58:30Z")) ","    /* 90 s: counts */
      POD("R", "Pending", UNSCHED("2026-12-06T07:59:30Z")) ","                   /* 30 s: in 31 s */
      POD("X", "Pending", UNSCHED("2026-12-06T07:50:00Z")) ","                   /* not ours: kubernetes#45673 */
      POD("R", "Running", "") ","                                                /* running */
      POD("R", "Pending", "{\"type\":\"PodScheduled\",\"status\":\"True\"}") "," /* scheduled, pulling */
      POD("D", "Pending", UNSCHED("2026-12-06T07:57:00Z")) "]}");                /* owned directly */
  json_object *rs = j("{\"items\":[{\"metadata\":{\"uid\":\"R\",\"ownerReferences\":[{\"uid\":\"D\"}]}},"
                      "{\"metadata\":{\"uid\":\"X\",\"ownerReferences\":[{\"uid\":\"other\"}]}}]}");
  int64_t un, next;
  sched_unschedulable(pods, rs, "D", now, &un, &next);
  assert_int_equal(un, 2);
  assert_int_equal(next, 31);
  /* a ReplicaSet or StatefulSet: its own pods only */
  sched_unschedulable(pods, NULL, "R", now, &un, &next);
  assert_int_equal(un, 1);
  sched_unschedulable(pods, rs, "nobody", now, &un, &next);
  assert_int_equal(un, 0);
  assert_int_equal(next, -1);
  sched_unschedulable(NULL, NULL, "D", now, &un, &next);
  assert_int_equal(un, 0);
  json_object_put(pods);
  json_object_put(rs);
}

static void test_current(void **state) {
  (void)state;
  /* now = 2026-12-06T08:00:00Z; this controller's field manager is "fcm". */
  const int64_t now = 1796544000;
#define WROTE(manager, at) "{\"manager\":\"" manager "\",\"time\":\"" at "\"}"
#define COPY(w) "{\"spec\":{\"replicas\":25},\"status\":{\"readyReplicas\":24},\"" SCHED_REPLICA_WRITERS "\":[" w "]}"
  static const struct {
    const char *copy;
    int64_t want;
  } cases[] = {
      {COPY(WROTE("fcm", "2026-12-06T07:59:50Z")), 25},     /* ours, 10 s: starting */
      {COPY(WROTE("fcm", "2026-12-06T07:59:00Z")), 25},     /* ours, 60 s: still */
      {COPY(WROTE("fcm", "2026-12-06T07:58:59Z")), 24},     /* 61 s: what is ready */
      {COPY(WROTE("fcm", "2026-12-06T08:00:03Z")), 25},     /* its clock 3 s ahead */
      {COPY(WROTE("fcm", "2026-12-06T09:00:00Z")), 24},     /* an hour ahead: not to be trusted */
      {COPY(WROTE("kubectl", "2026-12-06T07:59:50Z")), 24}, /* somebody else's scale */
      {COPY(WROTE("kubectl", "2026-12-06T07:59:50Z") "," WROTE("fcm", "2026-12-06T07:59:55Z")), 25}, /* both */
      {COPY(WROTE("fcm", "yesterday")), 24},                                                         /* no time */
      {COPY(), 24},                                                                                  /* no writer */
      {"{\"spec\":{\"replicas\":25},\"status\":{\"readyReplicas\":24}}", 24},                        /* nothing kept */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_object *copy = j(cases[i].copy);
    assert_int_equal(sched_current(copy, "fcm", now), cases[i].want);
    json_object_put(copy);
  }
  assert_int_equal(sched_current(NULL, "fcm", now), SCHED_NO_OBJECT);

  /* What a member cache keeps of managedFields: who wrote spec.replicas (the scale subresource too), when. */
  json_object *meta = j("{\"managedFields\":["
                        "{\"manager\":\"fcm\",\"operation\":\"Apply\",\"time\":\"2026-12-06T07:59:50Z\","
                        "\"fieldsV1\":{\"f:spec\":{\"f:replicas\":{},\"f:template\":{}}}},"
                        "{\"manager\":\"kube-controller-manager\",\"operation\":\"Update\",\"subresource\":\"status\","
                        "\"time\":\"2026-12-06T07:59:55Z\",\"fieldsV1\":{\"f:status\":{\"f:readyReplicas\":{}}}},"
                        "{\"manager\":\"fcm\",\"operation\":\"Update\",\"time\":\"2026-12-06T07:50:00Z\","
                        "\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{}}}},"
                        "{\"manager\":\"kubectl\",\"operation\":\"Update\",\"subresource\":\"scale\","
                        "\"time\":\"2026-12-06T07:59:40Z\",\"fieldsV1\":{\"f:spec\":{\"f:replicas\":{}}}}]}");
  json_object *copy = j("{\"spec\":{\"replicas\":25},\"status\":{\"readyReplicas\":24}}");
  sched_keep_replica_writers(meta, copy);
  assert_string_equal(json_object_to_json_string_ext(kc_obj_get(copy, SCHED_REPLICA_WRITERS), JSON_C_TO_STRING_PLAIN),
                      "[{\"manager\":\"fcm\",\"time\":\"2026-12-06T07:59:50Z\"},"
                      "{\"manager\":\"kubectl\",\"time\":\"2026-12-06T07:59:40Z\"}]");
  assert_int_equal(sched_current(copy, "fcm", now), 25);
  assert_int_equal(sched_current(copy, "fcm", now + 61), 24);
  json_object_put(copy);
  json_object_put(meta);
  /* no writer of spec.replicas: nothing kept */
  meta = j("{\"managedFields\":[{\"manager\":\"x\",\"fieldsV1\":{\"f:metadata\":{}}}]}");
  copy = j("{}");
  sched_keep_replica_writers(meta, copy);
  assert_null(kc_obj_get(copy, SCHED_REPLICA_WRITERS));
  json_object_put(copy);
  json_object_put(meta);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deployment),    cmocka_unit_test(test_replicaset_statefulset),
      cmocka_unit_test(test_job_complete),  cmocka_unit_test(test_job_failed),
      cmocka_unit_test(test_unschedulable), cmocka_unit_test(test_current),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
