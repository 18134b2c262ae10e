/* fc: the FederatedCluster controller (the declarative `kubefed join` / `unjoin`).
 *
 * Join, in order: read the member kubeconfig Secret (static credentials only) ->
 * in the member: namespace, ServiceAccount, least-privilege ClusterRole and
 * binding, an explicit service-account token Secret -> on the host: the
 * credential Secret (a minified kubeconfig with that token) -> in the federation
 * API (namespace federation-system): the same credential Secret, which the federation
 * controller manager reads, and the Cluster object naming it, labelled with
 * spec.clusterLabels -> member DNS (kube-dns keys or a marked CoreDNS
 * block) -> status. The reconcile is level-based: each run makes every object
 * true, writing only what differs. One client per member (the runtime cluster
 * registry) watches what the join made there, so drift (a deleted ClusterRole, an
 * edited Corefile) is undone within seconds, and probes the member's /readyz every
 * spec.health.periodSeconds from its own timer (thresholds -> Ready / Offline; a
 * member that is not healthy is not asked to join again until it is).
 *
 * Unjoin (the CR deleted): the finalizer kubefed.dev/unjoin removes the Cluster
 * object and the federation API's credential Secret, our DNS entries, the member RBAC, token Secret and ServiceAccount, and
 * the member namespace only if we created it and it holds nothing else, then the
 * host credential Secret. An unreachable member holds the finalizer, unless the
 * annotation kubefed.dev/force-unjoin: "true" is set (a Warning event lists what
 * was left in the member). */
#ifndef KF_FEDERATEDCLUSTER_H
#define KF_FEDERATEDCLUSTER_H

#include <uv.h>

#include <kf/ev.h>
#include "federation/federation.h"
#include <kf/kc.h>
#include <kf/metrics.h>
#include <kubefed/api.h>

typedef struct fc_controller fc_controller;

/* A FederatedCluster as the controller reads it, defaults applied (the CRD schema
 * validates the rest; the operator never writes .spec). Strings are borrowed from
 * the object, which must outlive the spec. */
typedef struct fc_spec {
  const char *name, *ns; /* metadata; NULL when missing */
  int64_t generation;
  int deleting;            /* metadata.deletionTimestamp is set */
  int force;               /* annotation kubefed.dev/force-unjoin: "true" */
  const char *fed_name;    /* spec.federationRef.name; NULL when missing */
  const char *member_ns;   /* spec.memberNamespace, default federation-system */
  const char *dns_mode;    /* spec.dns.mode, default Auto */
  const char *secret_name; /* spec.kubeconfigSecretRef.name; NULL when missing */
  const char *secret_key;  /* its key, default kubeconfig */
  const char *context;     /* its context; NULL: the current one */
  const char *cred_secret; /* spec.secretName; NULL: NAME-credentials */
  int period_s, timeout_s; /* spec.health, at least 1 */
  int failure_threshold, success_threshold;
  json_object *cluster_labels; /* spec.clusterLabels (a JSON object); NULL when missing or not one */
} fc_spec;

/* Reads fc (a FederatedCluster) into out: pure, allocates nothing. -EINVAL when fc
 * is not a JSON object. */
int fc_spec_decode(json_object *fc, fc_spec *out, kf_error *err);

/* o->informers: the shared informers (the caller starts them). */
fc_controller *fc_controller_new(uv_loop_t *loop, kc_client *c, const fed_options *o);
int fc_controller_synced(const fc_controller *f);
void fc_controller_start(fc_controller *f);
/* As fed_controller_close: closed(arg) once the last reconcile has finished. */
void fc_controller_close(fc_controller *f, void (*closed)(void *arg), void *arg);

/* The rules of the ClusterRole each member grants its federation: exactly what the controller
 * manager's propagated types need, no wildcards (RBAC.md, "member"): a JSON array of
 * PolicyRules. Caller puts it. */
json_object *fc_member_rules(void);

#endif
