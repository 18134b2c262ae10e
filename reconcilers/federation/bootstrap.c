/* fed bootstrap: the steps that reach the federation's own API server, once its Deployment has
 * an available replica, as its admin, and install what the federation needs there: the
 * namespaces federation-system and default, and the Cluster CRD. Failures here are the API
 * still coming up: APIServerReady=False and a short requeue, not Degraded. */
#include "federation_internal.h"

#include <stdlib.h>
#include <string.h>

#include <kf/kcfg.h>
#include <kf/kj.h>
#include <kf/log.h>
#include <kf/yaml.h>

#define FED_CLUSTER_CRD "clusters.federation.kubefed.dev"

static void fed_boot_failed(fed_run *run, const char *what, const kf_error *err) {
  fed_cond_set(run, FED_APISERVER, "False", "FederationAPIUnreachable", "the federation API at %s: %s: %s",
               run->fapi_url, what, cond_error_text(err, "failed"));
  fed_requeue(run, FED_API_RETRY_MS);
  fed_end(run);
}

/* A client for the federation API: the admin kubeconfig, at the address the operator can reach. */
void fed_step_federation_api(void *data) {
  fed_run *run = data;
  json_object *avail = kc_obj_get(run->apiserver, "status.availableReplicas");
  const char *failure;
  char why[768];
  int failing = fed_deployment_failure(run->apiserver, &failure, why, sizeof(why));
  if ((!avail || json_object_get_int64(avail) < 1) && failing) {
    fed_stop(run, 0, FED_APISERVER, failure, "Deployment %s-apiserver: %s", run->name, why);
    return;
  }
  if (!avail || json_object_get_int64(avail) < 1) {
    fed_cond_set(run, FED_APISERVER, "False", "DeploymentUnavailable",
                 "Deployment %s-apiserver has no available replica yet", run->name);
    fed_end(run);
    return;
  }
  /* Serving, but a replica it wants cannot be made: worth saying, not worth stopping for. */
  if (failing) fed_cond_set(run, FED_DEGRADED, "True", failure, "Deployment %s-apiserver: %s", run->name, why);
  if (run->f->access == FED_ACCESS_ENDPOINT) {
    char *svc = fed_service_url(&run->spec);
    int internal = !run->endpoint || strcmp(run->endpoint, svc) == 0;
    free(svc);
    if (internal) {
      /* From outside the host cluster only a published endpoint can be reached. */
      fed_cond_set(run, FED_APISERVER, "False", "EndpointPending",
                   "the operator reaches federation API servers through their published endpoint "
                   "(--federation-api-access=endpoint) and this one has none yet: %s",
                   run->endpoint_pending ? run->endpoint_pending
                                         : "a ClusterIP Service (or NodePort without spec.apiServer.advertiseAddress) "
                                           "is only reachable inside the host cluster; an operator running there "
                                           "reaches it with --federation-api-access=service (the chart's "
                                           "federationAPIAccess: service, its default)");
      fed_end(run);
      return;
    }
  }
  run->fapi_url = run->f->access == FED_ACCESS_ENDPOINT ? kf_strdup(run->endpoint) : fed_service_url(&run->spec);
  const char *admin = run->secrets.admin_kubeconfig_text;
  kcfg *cfg = NULL;
  kf_error err;
  if (kcfg_load_data(admin, strlen(admin), NULL, NULL, &cfg, &err) != 0) {
    fed_stop(run, 0, FED_APISERVER, "BootstrapFailed", "the admin kubeconfig does not load: %s", err.msg);
    return;
  }
  free(cfg->server);
  cfg->server = kf_strdup(run->fapi_url);
  run->fapi = kc_client_derive(run->f->c, cfg, &err);
  kcfg_free(cfg);
  if (!run->fapi) {
    fed_stop(run, 0, FED_APISERVER, "BootstrapFailed", "cannot build a client for the federation API: %s", err.msg);
    return;
  }
  kc_client_set_metrics(run->fapi, run->f->metrics);
  steps_next(&run->steps);
}

static void fed_readyz(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  (void)c;
  (void)obj;
  if (rc != 0) fed_boot_failed(run, "GET /readyz", err);
  else steps_next(&run->steps);
}

void fed_step_readyz(void *data) {
  fed_run *run = data;
  kc_request r = {.method = "GET", .path = "/readyz", .timeout_ms = 5000, .no_retry = 1};
  int rc = kc_do(run->fapi, &r, fed_readyz, run);
  if (rc != 0) fed_boot_failed(run, "GET /readyz", NULL);
}

/* ---- namespaces and the CRD: created when missing; the CRD also updated when it differs ---- */

static json_object *fed_namespace_object(const char *name) {
  json_object *o = kj_obj();
  kj_str(o, "apiVersion", "v1");
  kj_str(o, "kind", "Namespace");
  kj_set(o, "metadata", kj_str(kj_obj(), "name", name));
  return o;
}

static json_object *fed_cluster_crd(void) {
  json_object *crd = NULL;
  kf_error err;
  if (kf_yaml_to_json_one(api_cluster_crd_yaml, api_cluster_crd_yaml_len, &crd, &err) != 0) {
    KF_ERROR("the embedded Cluster CRD does not parse", "error", err.msg);
    return NULL;
  }
  return crd;
}

static void fed_boot_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  (void)c;
  (void)obj;
  if (rc != 0 && rc != KC_ERR_EXISTS) fed_boot_failed(run, "bootstrap write", err);
  else steps_next(&run->steps);
}

static void fed_namespace_read(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  (void)obj;
  if (rc == 0) {
    steps_next(&run->steps);
  } else if (rc == KC_ERR_NOTFOUND) {
    json_object *want = fed_namespace_object(run->boot_namespace);
    rc = kc_create(c, &KC_NAMESPACES, NULL, want, fed_boot_written, run);
    json_object_put(want);
    if (rc != 0) fed_boot_failed(run, "bootstrap write", NULL);
  } else {
    fed_boot_failed(run, "bootstrap read", err);
  }
}

static void fed_namespace(fed_run *run, const char *name) {
  run->boot_namespace = name;
  int rc = kc_get(run->fapi, &KC_NAMESPACES, NULL, name, fed_namespace_read, run);
  if (rc != 0) fed_boot_failed(run, "bootstrap read", NULL);
}

void fed_step_ns_federation_system(void *run) { fed_namespace(run, "federation-system"); }
/* kubefed v1 left `default` out of the federation API; create it when missing. */
void fed_step_ns_default(void *run) { fed_namespace(run, "default"); }

static void fed_crd_read(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  if (rc != 0 && rc != KC_ERR_NOTFOUND) {
    fed_boot_failed(run, "bootstrap read", err);
    return;
  }
  json_object *want = fed_cluster_crd();
  if (!want) {
    fed_stop(run, 0, FED_APISERVER, "BootstrapFailed", "the embedded Cluster CRD is invalid (a build problem)");
    return;
  }
  if (rc == 0 && kj_subset(kc_obj_get(want, "spec"), kc_obj_get(obj, "spec"))) {
    json_object_put(want);
    steps_next(&run->steps);
    return;
  }
  rc = kc_apply(c, &KC_CRDS, want, NULL, fed_boot_written, run);
  json_object_put(want);
  if (rc != 0) fed_boot_failed(run, "bootstrap write", NULL);
}

void fed_step_cluster_crd(void *data) {
  fed_run *run = data;
  int rc = kc_get(run->fapi, &KC_CRDS, NULL, FED_CLUSTER_CRD, fed_crd_read, run);
  if (rc != 0) fed_boot_failed(run, "bootstrap read", NULL);
}

void fed_step_serving(void *data) {
  fed_run *run = data;
  /* Reached through its Service in cluster, but published nowhere yet (a LoadBalancer without an
   * address, as on kind without cloud-provider-kind or MetalLB): say so, or status.endpoint is
   * simply missing and nobody outside the host cluster knows why. */
  const char *pending = !run->endpoint && run->endpoint_pending ? run->endpoint_pending : NULL;
  fed_cond_set(run, FED_APISERVER, "True", "Serving",
               "the federation API at %s answers /readyz; namespaces federation-system and default and the "
               "Cluster CRD are installed%s%s%s",
               run->fapi_url, pending ? "; no endpoint outside the host cluster yet: " : "", pending ? pending : "",
               pending && run->spec.service_type == FED_SVC_LOADBALANCER
                   ? " (a LoadBalancer Service needs a load balancer implementation: a cloud provider, MetalLB, "
                     "cloud-provider-kind; else use NodePort with spec.apiServer.advertiseAddress)"
                   : "");
  steps_next(&run->steps);
}
