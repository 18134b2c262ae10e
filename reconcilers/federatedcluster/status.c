/* Status: built whole (fc_status_body), compared with what the object shows (kj_subset), and
 * written only when it differs, so a steady member costs no write. Ready and Offline come from the
 * member's health (the probe's threshold machine); a condition no step reached says Pending.
 *
 *   fc_status             conditions -> body -> same here and on the Cluster? finish : mirror onto
 *                         the Cluster, then write
 *   fc_cluster_mirrored   the federation API's Cluster status (retried with backoff), then our own */
#include <stdlib.h>
#include <time.h>

#include <kf/kj.h>
#include <kf/log.h>

#include "fc.h"

static void fc_status_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  if (rc != 0 && rc != KC_ERR_NOTFOUND) {
    KF_WARN("status write failed", "federatedcluster", run->key, "error", err ? err->msg : "");
    if (!run->rc) run->rc = rc;
  }
  /* A reconcile of this key may start before the watch brings this write: it must see it. */
  if (rc == 0 && obj) informer_update_cache(run->f->fcs, obj);
  fc_finish(run);
}

typedef struct fc_status_ctx {
  fc_run *run;
  json_object *body;
} fc_status_ctx;

static void fc_write_own(fc_run *run, json_object *body) {
  int rc = kc_apply(run->f->c, &API_FEDERATEDCLUSTERS, body, "status", fc_status_written, run);
  json_object_put(body);
  if (rc != 0) {
    if (!run->rc) run->rc = rc;
    fc_finish(run);
  }
}

/* Our own status is written even when the mirror failed (it says what the member is); the run then
 * ends in error, so it comes back with backoff, and fc_mirror_same sees the Cluster still behind. */
static void fc_cluster_mirrored(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_status_ctx x = *(fc_status_ctx *)data;
  (void)c;
  (void)obj;
  free(data);
  if (rc != 0 && rc != KC_ERR_NOTFOUND) {
    KF_WARN("Cluster status not mirrored", "federatedcluster", x.run->key, "error", cond_error_text(err, "failed"));
    if (!x.run->rc) x.run->rc = rc;
  }
  fc_write_own(x.run, x.body);
}

/* 1 unless the federation API's Cluster, as its watch shows it, differs from the status we would
 * mirror (lastProbeTime aside): a mirror that failed, or a status somebody else wrote there, is
 * written again although our own status is unchanged. The controller manager places workloads by
 * that Cluster's Ready. No Cluster cached (not joined yet, watch not synced): nothing to compare. */
static int fc_mirror_same(fc_run *run, const fc_facts *x) {
  const informer *cache = run->fed ? fc_federation_cache(run, FW_CLUSTERS) : NULL;
  json_object *live = cache ? informer_get(cache, NULL, run->name) : NULL;
  if (!live) return 1;
  json_object *want = fc_cluster_status_body(run->name, &run->cond[C_READY], &run->cond[C_OFFLINE], x, NULL);
  int same = kj_subset(kc_obj_get(want, "status"), kc_obj_get(live, "status"));
  json_object_put(want);
  json_object_put(live);
  return same;
}

void fc_status(fc_run *run) {
  json_object *fc = run->fc;
  fc_health *h = run->member ? clusters_data(run->f->members, run->key) : NULL;
  fc_health_conds(h, fc, &run->cond[C_READY], &run->cond[C_OFFLINE]);
  for (int i = 0; i < C_N; i++)
    if (!run->cond[i].set)
      fc_cond_set(run, i, "Unknown", "Pending", "not reached yet: an earlier step has not completed");
  int changed = 0;
  json_object *conds = cond_array(fc, FC_COND, run->cond, C_N, run->spec.generation, &changed);
  /* Facts this run did not read (member unreachable, probe only) stay as the object shows them. */
  fc_facts x = {
      .version = run->version ? run->version : kc_obj_str(fc, "status.kubernetesVersion"),
      .region = run->region ? run->region : kc_obj_str(fc, "status.region"),
      .zones = run->zones ? run->zones : kc_obj_get(fc, "status.zones"),
      .cred_name = run->names.cred,
  };
  json_object *body = fc_status_body(&run->spec, conds, &x);
  if (fc_status_same(body, fc) && fc_mirror_same(run, &x)) {
    json_object_put(body);
    fc_finish(run);
    return;
  }
  char *now = cond_rfc3339(time(NULL));
  /* lastProbeTime goes with other changes only: a timestamp per probe would be a write per period. */
  if (h && h->state != FC_HEALTH_UNKNOWN) kj_str(kc_obj_get(body, "status"), "lastProbeTime", now);
  kc_client *fapi = fc_federation_client(run);
  if (fapi) {
    json_object *cl = fc_cluster_status_body(run->name, &run->cond[C_READY], &run->cond[C_OFFLINE], &x, now);
    fc_status_ctx *ctx = kf_calloc(1, sizeof(*ctx));
    *ctx = (fc_status_ctx){run, body};
    kj_set(run->f->mirroring, run->key, json_object_new_boolean(1));
    int rc = kc_apply(fapi, &API_CLUSTERS, cl, "status", fc_cluster_mirrored, ctx);
    json_object_put(cl);
    free(now);
    if (rc != 0) {
      free(ctx);
      fc_write_own(run, body);
    }
    return;
  }
  free(now);
  fc_write_own(run, body);
}
