/* fc_spec_decode: the FederatedCluster's spec as the controller reads it. Pure
 * (no I/O, no allocation), so the fuzzer and unit tests link it without the
 * controller. */
#include <string.h>

#include "federatedcluster.h"
#include <kf/kc.h>

/* An integer field or def; json-c turns a wrong type into 0 (then clamped by the caller). */
static int fc_int_or(json_object *h, const char *key, int def) {
  json_object *v = kc_obj_get(h, key);
  return v ? json_object_get_int(v) : def;
}

int fc_spec_decode(json_object *fc, fc_spec *s, kf_error *err) {
  memset(s, 0, sizeof(*s));
  if (!fc || !json_object_is_type(fc, json_type_object))
    return kf_error_set(err, -EINVAL, "FederatedCluster is not a JSON object");
  s->name = kc_obj_str(fc, "metadata.name");
  s->ns = kc_obj_str(fc, "metadata.namespace");
  json_object *v = kc_obj_get(fc, "metadata.generation");
  s->generation = v ? json_object_get_int64(v) : 0;
  s->deleting = kc_obj_get(fc, "metadata.deletionTimestamp") != NULL;
  s->force = kf_streq(kc_obj_key_str(kc_obj_get(fc, "metadata.annotations"), API_ANNOTATION_FORCE_UNJOIN), "true");

  s->fed_name = kc_obj_str(fc, "spec.federationRef.name");
  const char *member_ns = kc_obj_str(fc, "spec.memberNamespace");
  s->member_ns = member_ns && member_ns[0] ? member_ns : "federation-system";
  const char *mode = kc_obj_str(fc, "spec.dns.mode");
  s->dns_mode = mode && mode[0] ? mode : "Auto";
  s->secret_name = kc_obj_str(fc, "spec.kubeconfigSecretRef.name");
  const char *key = kc_obj_str(fc, "spec.kubeconfigSecretRef.key");
  s->secret_key = key ? key : "kubeconfig";
  const char *context = kc_obj_str(fc, "spec.kubeconfigSecretRef.context");
  s->context = context && context[0] ? context : NULL;
  const char *cred = kc_obj_str(fc, "spec.secretName");
  s->cred_secret = cred && cred[0] ? cred : NULL;

  /* The CRD schema makes it a map of strings; anything else (no schema) is ignored here and its
   * non-string values by the builder. */
  s->cluster_labels = kc_obj_get(fc, "spec.clusterLabels");
  if (!json_object_is_type(s->cluster_labels, json_type_object)) s->cluster_labels = NULL;

  json_object *h = kc_obj_get(fc, "spec.health");
  s->period_s = fc_int_or(h, "periodSeconds", 10);
  s->timeout_s = fc_int_or(h, "timeoutSeconds", 3);
  s->failure_threshold = fc_int_or(h, "failureThreshold", 3);
  s->success_threshold = fc_int_or(h, "successThreshold", 1);
  if (s->period_s < 1) s->period_s = 1;
  if (s->timeout_s < 1) s->timeout_s = 1;
  return 0;
}
