/* fed children: the steps that make the host objects (the Service, the credential Secrets, the
 * etcd claim, the two Deployments) true through apply_ensure, which writes only what differs from
 * the informer cache and never takes over an object that is not ours, and delete the ones the
 * spec (or this version) no longer wants: the controller manager's host ServiceAccount, Role and
 * RoleBinding of earlier versions, its Deployment when no image is known. The desired objects
 * come from the pure builders (objects.c, deployments.c). */
#include "federation_internal.h"

#include <stdlib.h>
#include <string.h>

#include <kf/kj.h>
#include <kf/log.h>

/* ---- one apply path ---- */

static void fed_applied(const apply_result *r, void *data) {
  fed_run *run = data;
  const char *kind = run->applying->kind, *name = run->applying_name;
  if (r->rc == 0) {
    if (r->wrote) KF_INFO("applied", "federation", run->key, "kind", kind, "name", name);
    run->applied(run, r->live);
  } else if (r->rc == APPLY_ERR_NOT_OURS) {
    fed_stop(run, 0, FED_DEGRADED, "NameConflict",
             "%s %s/%s exists and is not managed by kubefed-operator for this Federation; delete or rename it", kind,
             run->ns, name);
  } else if (kf_streq(r->step, "read")) {
    fed_stop(run, fed_api_rc(r->rc), FED_DEGRADED, "ReadFailed", "reading %s %s failed: %s", kind, name,
             cond_error_text(r->err, "unknown error"));
  } else {
    fed_stop(run, fed_api_rc(r->rc), FED_DEGRADED, "ApplyFailed", "applying %s %s failed: %s", kind, name,
             cond_error_text(r->err, "unknown error"));
  }
}

void fed_apply(fed_run *run, const kc_resource *res, json_object *desired, fed_live_fn done) {
  free(run->applying_name);
  run->applying = res;
  run->applying_name = kf_strdup(kc_obj_str(desired, "metadata.name"));
  run->applied = done;
  apply_opts o = {.client = run->f->c, .res = res, .cache = fed_cache(run->f, res), .owner_labels = run->owner_labels};
  int rc = apply_ensure(&o, desired, fed_applied, run);
  if (rc != 0)
    fed_stop(run, fed_api_rc(rc), FED_DEGRADED, "ApplyFailed",
             "applying %s %s failed: the request could not be started", res->kind,
             run->applying_name ? run->applying_name : "");
}

static void fed_deleted(const apply_result *r, void *data) {
  fed_run *run = data;
  if (r->rc != 0) {
    fed_stop(run, fed_api_rc(r->rc), FED_DEGRADED, "DeleteFailed", "deleting %s %s failed: %s", run->applying->kind,
             run->applying_name, cond_error_text(r->err, "unknown error"));
    return;
  }
  if (r->wrote) KF_INFO("deleted", "federation", run->key, "kind", run->applying->kind, "name", run->applying_name);
  run->applied(run, NULL);
}

void fed_delete(fed_run *run, const kc_resource *res, const char *suffix, fed_live_fn done) {
  /* The informer holds every object labelled ours: absent there, there is nothing of ours to
   * delete, and a converged Federation asks the API server nothing. */
  json_object *cached = fed_cached(run, res, suffix);
  if (!cached) {
    done(run, NULL);
    return;
  }
  json_object_put(cached);
  free(run->applying_name);
  run->applying = res;
  run->applying_name = fed_child_name(&run->spec, suffix);
  run->applied = done;
  apply_opts o = {.client = run->f->c, .res = res, .cache = fed_cache(run->f, res), .owner_labels = run->owner_labels};
  int rc = apply_delete(&o, run->ns, run->applying_name, fed_deleted, run);
  if (rc != 0)
    fed_stop(run, fed_api_rc(rc), FED_DEGRADED, "DeleteFailed",
             "deleting %s %s failed: the request could not be started", res->kind, run->applying_name);
}

/* The object *slot, handed to apply (which takes it). */
static json_object *fed_take(json_object **slot) {
  json_object *o = *slot;
  *slot = NULL;
  return o;
}

/* ---- the Service, whose address the certificates and kubeconfigs need ---- */

static void fed_service_done(fed_run *run, json_object *live) {
  run->service = json_object_get(live);
  run->endpoint = fed_endpoint(&run->spec, live, &run->endpoint_pending);
  fed_serving_sans(&run->spec, kc_obj_get(live, "status.loadBalancer.ingress"), &run->san_dns, &run->san_ip);
  steps_next(&run->steps);
}

void fed_step_service(void *data) {
  fed_run *run = data;
  fed_apply(run, &KC_SERVICES, fed_desired_service(&run->spec), fed_service_done);
}

/* ---- Secrets, storage, the host RBAC of earlier versions ---- */

void fed_step_credential_secrets(void *data) {
  fed_run *run = data;
  const fed_spec *s = &run->spec;
  fed_credential_inputs in = {
      .ca_cert = run->ca.cert_pem,
      .server_cert = run->cred[CRED_SERVER].cert_pem,
      .server_key = run->cred[CRED_SERVER].key_pem,
      .cm_cert = run->cred[CRED_CM].cert_pem,
      .cm_key = run->cred[CRED_CM].key_pem,
      .admin_cert = run->cred[CRED_ADMIN].cert_pem,
      .admin_key = run->cred[CRED_ADMIN].key_pem,
      .sa_pub = run->cred[CRED_SA].cert_pem,
      .sa_key = run->cred[CRED_SA].key_pem,
      .token_csv = run->in[IN_TOKEN] ? kc_obj_key_str(kc_obj_get(run->in[IN_TOKEN], "data"), s->token_key) : NULL,
      .dns_config = run->in[IN_DNS] ? kc_obj_key_str(kc_obj_get(run->in[IN_DNS], "data"), s->dns_config_key) : NULL,
      .endpoint = run->endpoint,
  };
  fed_desired_credential_secrets(s, &in, &run->secrets);
  steps_next(&run->steps);
}

/* Applies *slot, or moves on when the spec needs no such object (NULL). */
static void fed_apply_or_next(fed_run *run, const kc_resource *res, json_object **slot, fed_live_fn done) {
  if (*slot) fed_apply(run, res, fed_take(slot), done);
  else steps_next(&run->steps);
}

void fed_step_apiserver_credentials(void *data) {
  fed_run *run = data;
  fed_apply_or_next(run, &KC_SECRETS, &run->secrets.apiserver, fed_next);
}

void fed_step_cm_kubeconfig(void *data) {
  fed_run *run = data;
  fed_apply_or_next(run, &KC_SECRETS, &run->secrets.cm_kubeconfig, fed_next);
}

void fed_step_admin_kubeconfig(void *data) {
  fed_run *run = data;
  fed_apply_or_next(run, &KC_SECRETS, &run->secrets.admin_kubeconfig, fed_next);
}

void fed_step_dns_provider(void *data) {
  fed_run *run = data;
  fed_apply_or_next(run, &KC_SECRETS, &run->secrets.dns_provider, fed_next);
}

static void fed_pvc_done(fed_run *run, json_object *live) {
  run->pvc = json_object_get(live);
  steps_next(&run->steps);
}

void fed_step_etcd_claim(void *data) {
  fed_run *run = data;
  json_object *pvc = fed_desired_pvc(&run->spec);
  fed_apply_or_next(run, &KC_PVCS, &pvc, fed_pvc_done);
}

/* Earlier versions gave the controller manager a host ServiceAccount, and a Role reading every
 * Secret of the namespace (other federations' CA keys, users' admin kubeconfigs); it now reads
 * member credentials from the federation API, so they go. */
void fed_step_legacy_service_account(void *data) {
  fed_delete(data, &KC_SERVICEACCOUNTS, "controller-manager", fed_next);
}

void fed_step_legacy_role(void *data) { fed_delete(data, &KC_ROLES, "controller-manager", fed_next); }

void fed_step_legacy_role_binding(void *data) { fed_delete(data, &KC_ROLEBINDINGS, "controller-manager", fed_next); }

/* ---- the Deployments ---- */

static void fed_etcd_condition(fed_run *run) {
  const fed_spec *s = &run->spec;
  if (!s->etcd_local) {
    fed_cond_set(run, FED_ETCD, "True", "ExternalEtcd", "the federation API server uses the external etcd at %s",
                 json_object_get_string(json_object_array_get_idx(s->etcd_endpoints, 0)));
  } else if (s->etcd_emptydir) {
    fed_cond_set(run, FED_ETCD, "True", "EmptyDir",
                 "etcd keeps its data in an emptyDir (spec.etcd.local.storage.type): it is lost with the pod");
  } else {
    json_object *pvc = s->etcd_existing_claim ? run->in[IN_CLAIM] : run->pvc;
    const char *phase = kc_obj_str(pvc, "status.phase");
    char *claim = fed_etcd_claim_name(s);
    if (phase && strcmp(phase, "Bound") == 0)
      fed_cond_set(run, FED_ETCD, "True", "ClaimBound", "PersistentVolumeClaim %s is Bound", claim);
    else
      fed_cond_set(run, FED_ETCD, "False", "ClaimPending",
                   "PersistentVolumeClaim %s is %s: it binds once a PersistentVolume matches its size and storage "
                   "class or, with a WaitForFirstConsumer storage class (the default of kind, GKE and EKS), once the "
                   "apiserver pod is scheduled",
                   claim, phase ? phase : "not created yet");
    free(claim);
  }
}

static void fed_apiserver_done(fed_run *run, json_object *live) {
  run->apiserver = json_object_get(live);
  steps_next(&run->steps);
}

void fed_step_apiserver(void *data) {
  fed_run *run = data;
  fed_etcd_condition(run);
  fed_apply(run, &KC_DEPLOYMENTS, fed_desired_apiserver(&run->spec, run->secrets.apiserver_hash), fed_apiserver_done);
}

static void fed_cm_done(fed_run *run, json_object *live) {
  json_object *avail = kc_obj_get(live, "status.availableReplicas");
  int64_t available = avail ? json_object_get_int64(avail) : 0;
  if (run->spec.cm_replicas == 0)
    fed_cond_set(run, FED_CM, "True", "ScaledToZero", "spec.controllerManager.replicas is 0");
  else if (available >= run->spec.cm_replicas)
    fed_cond_set(run, FED_CM, "True", "Available", "Deployment %s-controller-manager has %lld/%d available replicas",
                 run->name, (long long)available, run->spec.cm_replicas);
  else
    fed_cond_set(run, FED_CM, "False", "DeploymentUnavailable",
                 "Deployment %s-controller-manager has %lld/%d available replicas", run->name, (long long)available,
                 run->spec.cm_replicas);
  const char *failure;
  char why[768];
  if (run->spec.cm_replicas > 0 && fed_deployment_failure(live, &failure, why, sizeof(why))) {
    if (available < run->spec.cm_replicas)
      fed_cond_set(run, FED_CM, "False", failure, "Deployment %s-controller-manager: %s", run->name, why);
    fed_cond_set(run, FED_DEGRADED, "True", failure, "Deployment %s-controller-manager: %s", run->name, why);
  }
  steps_next(&run->steps);
}

static void fed_cm_no_image(fed_run *run, json_object *live) {
  (void)live;
  fed_stop(run, 0, FED_CM, "NoImage",
           "no image for the controller manager: set spec.controllerManager.image, or start the operator with "
           "--controller-manager-image=IMAGE (the Helm chart sets it to the chart's own image); Deployment "
           "%s-controller-manager is not created",
           run->name);
}

void fed_step_controller_manager(void *data) {
  fed_run *run = data;
  kf_error err;
  if (!run->spec.cm_image) {
    /* A Deployment that names no image cannot run; one left from before runs an image nobody set. */
    fed_delete(run, &KC_DEPLOYMENTS, "controller-manager", fed_cm_no_image);
    return;
  }
  /* What the program would refuse (it exits 2) becomes a condition, and the running Deployment is
   * left as it is instead of being replaced by a crash-looping one. */
  if (fed_controller_manager_args_check(&run->spec, &err) != 0) {
    fed_stop(run, 0, FED_CM, "InvalidExtraArgs",
             "spec.controllerManager.extraArgs: %s (Deployment %s-controller-manager is left as it is)", err.msg,
             run->name);
    return;
  }
  fed_apply(run, &KC_DEPLOYMENTS, fed_desired_controller_manager(&run->spec, run->secrets.cm_hash), fed_cm_done);
}
