/* Member health: the cluster registry probes each member from its own timer; here a probe's result
 * goes through a PURE threshold machine (kubelet's probe semantics: failureThreshold consecutive
 * failures make a member Offline, successThreshold consecutive successes Ready again) and the
 * FederatedCluster is enqueued only when what its conditions show changes, so a steady member
 * costs a probe per period and no status write.
 *
 *   fc_health_observe   PURE: one result -> state (Unknown, Ready, NotReady, Offline)
 *   fc_health_why       PURE: a failed probe in words that stay the same across probes
 *   fc_health_conds     PURE: Ready and Offline conditions from the state (before this process's
 *                       first probe: what the object shows, so a restart does not flap them)
 *   fc_on_probe         the registry's callback: metric, machine, enqueue; watches paused offline */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kf/log.h>

#include "fc.h"

int fc_health_observe(fc_health *h, int ok, const char *why) {
  fc_health_state before = h->state;
  int ft = h->failure_threshold > 0 ? h->failure_threshold : 1;
  int st = h->success_threshold > 0 ? h->success_threshold : 1;
  int words = 0;
  if (ok) {
    h->failures = 0;
    if (++h->successes >= st) h->state = FC_HEALTH_READY;
    else if (h->state == FC_HEALTH_UNKNOWN || h->state == FC_HEALTH_READY) h->state = FC_HEALTH_NOT_READY;
    /* Offline until successThreshold: one good answer from a flapping member is not enough. */
  } else {
    h->successes = 0;
    if (++h->failures >= ft) h->state = FC_HEALTH_OFFLINE;
    else if (h->state != FC_HEALTH_OFFLINE) h->state = FC_HEALTH_NOT_READY;
    words = !kf_streq(h->why, why);
    free(h->why);
    h->why = kf_strdup(why ? why : "");
  }
  if (h->state == FC_HEALTH_READY && h->why) {
    free(h->why);
    h->why = NULL;
  }
  return h->state != before || (h->state != FC_HEALTH_READY && words);
}

void fc_health_why(int rc, const kf_error *err, int timeout_s, char *buf, size_t size) {
  if (rc == KC_ERR_TIMEOUT && (!err || !err->http_status))
    snprintf(buf, size, "no answer within spec.health.timeoutSeconds (%ds): timed out", timeout_s);
  else if (rc == KC_ERR_THROTTLED)
    snprintf(buf, size, "throttled by the member (HTTP 429): %s", cond_error_text(err, "429"));
  else snprintf(buf, size, "%s", cond_error_text(err, "failed"));
}

/* c from the object's condition of that type, when it has one with a status. */
static int fc_health_keep(cond *c, json_object *live, const char *type) {
  json_object *was = cond_find(live, type);
  const char *status = kc_obj_str(was, "status"), *reason = kc_obj_str(was, "reason");
  const char *message = kc_obj_str(was, "message");
  static const char *const statuses[] = {"True", "False", "Unknown"}; /* cond keeps static ones */
  for (size_t i = 0; status && reason && i < 3; i++)
    if (strcmp(status, statuses[i]) == 0) {
      cond_set(c, statuses[i], reason, "%s", message ? message : "");
      return 1;
    }
  return 0;
}

void fc_health_conds(const fc_health *h, json_object *live, cond *ready, cond *offline) {
  fc_health_state s = h ? h->state : FC_HEALTH_UNKNOWN;
  const char *why = h && h->why ? h->why : "not ready";
  /* Not probed by this process yet: the last verdict stands until the first probe (within a
   * second) gives a new one; a restarted operator must not turn every member Unknown. */
  if (s == FC_HEALTH_UNKNOWN && !ready->set && !offline->set && fc_health_keep(ready, live, "Ready") &&
      fc_health_keep(offline, live, "Offline"))
    return;
  if (!ready->set) {
    if (s == FC_HEALTH_UNKNOWN) cond_set(ready, "Unknown", "NotProbed", "the member has not been probed yet");
    else if (s == FC_HEALTH_READY) cond_set(ready, "True", "Healthy", "the member's API server answers /readyz");
    else cond_set(ready, "False", s == FC_HEALTH_OFFLINE ? "Offline" : "NotReady", "the member's API server: %s", why);
  }
  if (!offline->set) {
    if (s == FC_HEALTH_OFFLINE)
      /* Not the running count of failures: a message that changes at every probe would be a
       * status write per probe. */
      cond_set(offline, "True", "ProbeFailed", "failureThreshold (%d) consecutive probes failed: %s",
               h->failure_threshold, h->why ? h->why : "");
    else cond_set(offline, "False", "Reachable", "the member answers its health probes");
  }
}

void fc_health_free(void *p) {
  fc_health *h = p;
  if (!h) return;
  free(h->why);
  free(h);
}

void fc_on_probe(clusters *cl, const char *key, int rc, const kf_error *err, void *data) {
  fc_controller *f = data;
  fc_health *h = clusters_data(cl, key);
  char labels[384], why[640];
  /* Per member, so a user (and the fault tests) can see each member keeps its probe period. */
  snprintf(labels, sizeof(labels), "federatedcluster=\"%s\",result=\"%s\"", key, rc == 0 ? "success" : "failure");
  kf_metrics_add(f->metrics, "member_probes_total", "Health probes of member API servers by result", labels, 1);
  if (!h || f->closing) return;
  if (rc != 0) fc_health_why(rc, err, h->timeout_s, why, sizeof(why));
  if (!fc_health_observe(h, rc == 0, rc == 0 ? NULL : why)) return;
  /* A member that does not answer is not asked again by its watches until it does. */
  if (h->state == FC_HEALTH_OFFLINE) clusters_pause(cl, key);
  else if (h->state == FC_HEALTH_READY) clusters_resume(cl, key);
  ctrl_enqueue(f->ctrl, key);
}
