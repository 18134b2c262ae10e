/* fed: the Federation controller (the declarative `kubefed init`).
 *
 * Level-based, after controller-runtime: every reconcile reads the Federation
 * and its children from informer caches and moves the world towards the spec,
 * in the order that lets each part come up:
 *
 *   CA -> Service (its address feeds the certificate SANs) -> credentials
 *   (serving and client certificates, service-account key, kubeconfigs) ->
 *   Secrets -> etcd storage -> RBAC -> apiserver Deployment -> federation API
 *   bootstrap (namespaces, Cluster CRD) -> controller manager Deployment -> status.
 *
 * The controller manager (kubefed-controller-manager) needs nothing on the host: it reads member
 * credentials from the federation API, so it has no host ServiceAccount, Role or RoleBinding
 * (those of earlier versions are deleted).
 *
 * A child is written only when the cache shows it differs from what we would
 * apply (server-side apply, field manager kubefed-operator), so a converged
 * Federation costs no writes. Host children carry an ownerReference (the
 * garbage collector deletes them with the Federation) except a retained etcd
 * PVC. The finalizer kubefed.dev/teardown holds deletion while FederatedClusters
 * still reference the Federation. Status carries conditions with
 * observedGeneration and is written only when it changes; .spec never is. */
#ifndef KF_FEDERATION_H
#define KF_FEDERATION_H

#include <uv.h>

#include <kf/ev.h>
#include <kf/informer.h>
#include <kf/kc.h>
#include <kf/metrics.h>
#include <kubefed/api.h>

typedef struct fed_controller fed_controller;

/* How the operator reaches each federation's API server for the bootstrap. */
typedef enum {
  FED_ACCESS_SERVICE = 0, /* https://F-apiserver.NS.svc:443 (the operator runs in the host cluster) */
  FED_ACCESS_ENDPOINT     /* status.endpoint (out of cluster: NodePort + advertiseAddress, LoadBalancer) */
} fed_access;

typedef struct fed_options {
  const char *namespace_; /* NULL or "": all namespaces */
  fed_access access;
  kf_metrics *metrics;         /* may be NULL */
  ev_recorder *events;         /* may be NULL */
  informer_factory *informers; /* required: the shared informers (started by the caller) */
  /* The controller manager's image when spec.controllerManager.image is empty (the operator's
   * --controller-manager-image, the chart's own image); NULL: none, no Deployment. */
  const char *cm_image;
} fed_options;

fed_controller *fed_controller_new(uv_loop_t *loop, kc_client *c, const fed_options *o);
int fed_controller_synced(const fed_controller *f);
/* Starts reconciling (the leader only). */
void fed_controller_start(fed_controller *f);
/* Reconciles still running finish first; then everything is freed and closed(arg) runs (may be
 * NULL; possibly before this returns when nothing was running). */
void fed_controller_close(fed_controller *f, void (*closed)(void *arg), void *arg);

#endif
