/* What a change in a federation API means to the FederatedCluster controller. The registry of
 * federation API clients (one per Federation) watches what joins made there, by the ownership
 * labels: the Cluster objects and the member credential Secrets in federation-system, so that one
 * deleted or edited there is restored within seconds, not at the next reconcile.
 *
 *   fc_on_federation_change   -> reconcile the FederatedCluster the object belongs to (its
 *                                kubefed.dev/cluster label), unless it is a Cluster that still
 *                                shows what its spec wants and the FederatedCluster's readiness
 *                                (our own status writes come back here, and so do labels
 *                                somebody else added) */
#include <stdlib.h>
#include <string.h>

#include "fc.h"

/* 1 unless the Cluster name of Federation key exists and shows what fc's spec wants, and (unless
 * fc's run is writing status right now) the readiness fc's status says: the controller manager
 * places workloads by it. */
static int fc_cluster_drifted(clusters *cl, const char *key, json_object *fc, const char *name, int mirroring) {
  const informer *cache = clusters_cache(cl, key, FW_CLUSTERS);
  json_object *now = cache ? informer_get(cache, NULL, name) : NULL;
  fc_spec s;
  int drifted = 1;
  if (now && fc_spec_decode(fc, &s, NULL) == 0) {
    fc_names n;
    fc_names_of(&s, &n);
    drifted = !fc_cluster_as_desired(&s, &n, now) || (!mirroring && !fc_cluster_status_as_fc(now, fc));
    fc_names_free(&n);
  }
  if (now) json_object_put(now);
  return drifted;
}

void fc_on_federation_change(clusters *cl, const char *key, json_object *obj, void *data) {
  fc_controller *f = data;
  const char *name = kc_obj_key_str(kc_obj_get(obj, "metadata.labels"), API_LABEL_CLUSTER);
  const char *slash = strchr(key, '/');
  if (f->closing || !name || !slash) return;
  char *ns = kf_asprintf("%.*s", (int)(slash - key), key);
  json_object *fc = informer_get(f->fcs, ns, name);
  char *fc_key = kf_asprintf("%s/%s", ns, name);
  /* Clusters are cluster-scoped, the credential Secrets namespaced: any change to one of those is
   * worth a look (they change only when we write them, or by drift). */
  int cluster = kc_obj_get(obj, "metadata.namespace") == NULL;
  if (fc && (!cluster || fc_cluster_drifted(cl, key, fc, name, json_object_object_get_ex(f->mirroring, fc_key, NULL))))
    ctrl_enqueue(f->ctrl, fc_key);
  if (fc) json_object_put(fc);
  free(fc_key);
  free(ns);
}
