/* The unjoin (the FederatedCluster deleted, finalizer kubefed.dev/unjoin): exactly what the join
 * made goes, and only if it is ours (apply_delete: ownership labels, uid precondition).
 *
 *   UNJOIN          the steps table: Cluster and credential Secret in the federation API,
 *                   reachability, the controller manager's copies, DNS, RBAC, token, ServiceAccount,
 *                   namespace (only if it holds nothing but Kubernetes' defaults), host Secret
 *   fc_deleted      one callback for every delete: what could not be deleted is noted, not fatal
 *   reachability    an unreachable member holds the unjoin unless force-unjoin is set
 *   finalizer       removed last; a Warning event lists what was left behind */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kf/log.h>

#include <kubefed/cm_options.h>

#include "fc.h"

static void fc_note_left(fc_run *run, const char *what) {
  size_t used = strlen(run->leftovers);
  snprintf(run->leftovers + used, sizeof(run->leftovers) - used, "%s%s", used ? ", " : "", what);
}

typedef struct fc_delete_ctx {
  fc_run *run;
  const char *kind, *name;
} fc_delete_ctx;

static void fc_deleted(const apply_result *r, void *data) {
  fc_delete_ctx x = *(fc_delete_ctx *)data;
  free(data);
  if (r->rc != 0) {
    char *what = kf_asprintf("%s %s (%s)", x.kind, x.name, cond_error_text(r->err, "failed"));
    fc_note_left(x.run, what);
    free(what);
  }
  steps_next(&x.run->steps);
}

/* Deletes res ns/name on c if it is ours, then the next step (c NULL: skipped). */
static void fc_delete(fc_run *run, kc_client *c, const kc_resource *res, const char *ns, const char *name) {
  if (!c) {
    steps_next(&run->steps);
    return;
  }
  apply_opts o = fc_apply_opts(run, c, res, -1);
  fc_delete_ctx *x = kf_calloc(1, sizeof(*x));
  *x = (fc_delete_ctx){run, res->kind, name};
  if (apply_delete(&o, ns, name, fc_deleted, x) != 0) {
    apply_result r = {.rc = KC_ERR_INVALID, .err = NULL};
    fc_deleted(&r, x);
  }
}

/* ---- federation API, reachability ---- */

static void fc_unjoin_cluster(void *ctx) {
  fc_run *run = ctx;
  fc_delete(run, fc_federation_client(run), &API_CLUSTERS, NULL, run->name);
}

/* After the Cluster: the controller manager stops using the member before its credential goes. */
static void fc_unjoin_federation_credential(void *ctx) {
  fc_run *run = ctx;
  fc_delete(run, fc_federation_client(run), &KC_SECRETS, API_FEDERATION_SYSTEM, run->names.cred);
}

static void fc_reachable(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  (void)obj;
  if (rc != 0 && !run->spec.force) {
    steps_abort(&run->steps);
    fc_cond_set(run, C_JOINED, "True", "UnjoinBlocked",
                "unjoin waits for the member to be reachable (%s); set the annotation %s: \"true\" to finish on the "
                "host side only",
                cond_error_text(err, "failed"), API_ANNOTATION_FORCE_UNJOIN);
    ev_emit(run->f->events, run->fc, "Warning", "UnjoinBlocked", "Unjoin", "%s", run->cond[C_JOINED].message);
    fc_requeue(run, FC_RETRY_MS);
    fc_status(run);
    return;
  }
  if (rc != 0) {
    run->member = NULL; /* forced: the member's steps are skipped */
    fc_note_left(run, "everything in the member (unreachable)");
  }
  steps_next(&run->steps);
}

static void fc_unjoin_reachable(void *ctx) {
  fc_run *run = ctx;
  kc_request r = {.method = "GET", .path = "/readyz", .timeout_ms = 5000, .no_retry = 1};
  if (!run->member || kc_do(run->member, &r, fc_reachable, run) != 0) {
    kf_error e;
    kf_error_clear(&e);
    kf_error_set(&e, KC_ERR_UNREACHABLE, "no usable credentials for the member");
    fc_reachable(NULL, KC_ERR_UNREACHABLE, NULL, &e, run);
  }
}

/* ---- member objects ---- */

static void fc_unjoin_role(void *ctx) {
  fc_run *run = ctx;
  fc_delete(run, run->member, &KC_CLUSTERROLES, NULL, run->names.role);
}
static void fc_unjoin_binding(void *ctx) {
  fc_run *run = ctx;
  fc_delete(run, run->member, &KC_CLUSTERROLEBINDINGS, NULL, run->names.role);
}
static void fc_unjoin_token(void *ctx) {
  fc_run *run = ctx;
  fc_delete(run, run->member, &KC_SECRETS, run->spec.member_ns, run->names.token);
}
static void fc_unjoin_sa(void *ctx) {
  fc_run *run = ctx;
  fc_delete(run, run->member, &KC_SERVICEACCOUNTS, run->spec.member_ns, run->names.sa);
}

/* What Kubernetes itself puts in every namespace; anything else is somebody's and keeps it. */
static const kc_resource *const FC_NS_CONTENT[] = {&KC_CONFIGMAPS, &KC_SECRETS,     &KC_SERVICEACCOUNTS,
                                                   &KC_SERVICES,   &KC_DEPLOYMENTS, &KC_PVCS};
#define FC_NS_KINDS (sizeof(FC_NS_CONTENT) / sizeof(FC_NS_CONTENT[0]))

static int fc_ns_default_object(const kc_resource *res, json_object *o) {
  const char *name = kc_obj_str(o, "metadata.name");
  /* Service-account token Secrets of the default account come and go with it. */
  return (res == &KC_CONFIGMAPS && kf_streq(name, "kube-root-ca.crt")) ||
         (res == &KC_SERVICEACCOUNTS && kf_streq(name, "default")) ||
         kf_streq(kc_obj_str(o, "type"), "kubernetes.io/service-account-token");
}

static void fc_ns_list_next(fc_run *run);

static void fc_ns_content(kc_client *c, int rc, json_object *list, const kf_error *err, void *data) {
  fc_run *run = data;
  int others = 0;
  (void)c;
  (void)err;
  json_object *items = rc == 0 ? kc_obj_get(list, "items") : NULL;
  for (size_t i = 0; items && i < json_object_array_length(items); i++)
    others += !fc_ns_default_object(FC_NS_CONTENT[run->ns_kind], json_object_array_get_idx(items, i));
  if (rc != 0 || others) {
    steps_next(&run->steps); /* somebody's objects live there: keep the namespace */
    return;
  }
  run->ns_kind++;
  fc_ns_list_next(run);
}

static void fc_ns_list_next(fc_run *run) {
  if (run->ns_kind == FC_NS_KINDS) {
    /* Nothing but Kubernetes' defaults: the namespace goes, if we created it (labelled ours). */
    fc_delete(run, run->member, &KC_NAMESPACES, NULL, run->spec.member_ns);
    return;
  }
  kc_list_opts o = {.limit = 20};
  if (kc_list(run->member, FC_NS_CONTENT[run->ns_kind], run->spec.member_ns, &o, fc_ns_content, run) != 0)
    steps_next(&run->steps);
}

/* ---- what the controller manager propagated ---- */

/* Our copies in the member (label kubefed.dev/propagated-by = the Federation's uid) go with it;
 * force-unjoin leaves them and names them. Namespaces stay: what users put in them is theirs. */
typedef struct fc_copies {
  fc_run *run;
  char *uid;
  const char *owner[3]; /* apply_delete keeps the pointer */
  int pending;
  size_t found, failed;
} fc_copies;

static void fc_copies_step_done(fc_copies *x) {
  if (--x->pending > 0) return;
  fc_run *run = x->run;
  if (x->found && run->spec.force) {
    char *what = kf_asprintf("%zu propagated objects (label %s=%s)", x->found, API_LABEL_PROPAGATED_BY, x->uid);
    fc_note_left(run, what);
    free(what);
  } else if (x->failed) {
    char *what = kf_asprintf("%zu propagated objects that could not be deleted", x->failed);
    fc_note_left(run, what);
    free(what);
  }
  free(x->uid);
  free(x);
  steps_next(&run->steps);
}

static void fc_copy_deleted(const apply_result *r, void *data) {
  fc_copies *x = data;
  if (r->rc != 0) x->failed++;
  fc_copies_step_done(x);
}

typedef struct fc_copies_list {
  fc_copies *x;
  const kc_resource *res;
} fc_copies_list;

static void fc_copies_listed(kc_client *c, int rc, json_object *list, const kf_error *err, void *data) {
  fc_copies_list l = *(fc_copies_list *)data;
  fc_copies *x = l.x;
  free(data);
  (void)err;
  json_object *items = kc_obj_get(list, "items");
  size_t n = rc == 0 && json_object_is_type(items, json_type_array) ? json_object_array_length(items) : 0;
  if (rc != 0 && rc != KC_ERR_NOTFOUND) x->failed++;
  x->found += n;
  apply_opts o = {.client = c, .res = l.res, .owner_labels = x->owner};
  for (size_t i = 0; i < n && !x->run->spec.force; i++) {
    json_object *item = json_object_array_get_idx(items, i);
    x->pending++;
    if (apply_delete(&o, kc_obj_str(item, "metadata.namespace"), kc_obj_str(item, "metadata.name"), fc_copy_deleted,
                     x) != 0) {
      x->pending--;
      x->failed++;
    }
  }
  fc_copies_step_done(x);
}

static void fc_unjoin_copies(void *ctx) {
  fc_run *run = ctx;
  const char *uid = run->fed ? kc_obj_str(run->fed, "metadata.uid") : NULL;
  if (!run->member || !uid) { /* no member, or no Federation: nothing can be told apart as ours */
    steps_next(&run->steps);
    return;
  }
  fc_copies *x = kf_calloc(1, sizeof(*x));
  x->run = run;
  x->uid = kf_strdup(uid);
  x->owner[0] = API_LABEL_PROPAGATED_BY;
  x->owner[1] = x->uid;
  x->pending = 1;
  char *selector = kf_asprintf("%s=%s", API_LABEL_PROPAGATED_BY, uid);
  kc_list_opts lo = {.label_selector = selector};
  for (const kc_resource *const *res = API_PROPAGATED_NAMESPACED; *res; res++) {
    fc_copies_list *l = kf_calloc(1, sizeof(*l));
    *l = (fc_copies_list){x, *res};
    x->pending++;
    if (kc_list_all(run->member, *res, NULL, &lo, fc_copies_listed, l) != 0) {
      free(l);
      x->pending--;
      x->failed++;
    }
  }
  free(selector);
  fc_copies_step_done(x);
}

/* The member namespace goes only if it holds nothing but what Kubernetes puts there. */
static void fc_unjoin_namespace(void *ctx) {
  fc_run *run = ctx;
  if (!run->member) {
    steps_next(&run->steps);
    return;
  }
  run->ns_kind = 0;
  fc_ns_list_next(run);
}

static void fc_unjoin_host(void *ctx) {
  fc_run *run = ctx;
  fc_delete(run, run->f->c, &KC_SECRETS, run->ns, run->names.cred);
}

/* ---- finalizer ---- */

static void fc_finalizer_removed(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  (void)obj;
  /* Conflict: the uid precondition failed, so the object unjoined here is gone already (this
   * was a second pass from a cache that had not seen the first one's removal yet). */
  if (rc != 0 && rc != KC_ERR_NOTFOUND && rc != KC_ERR_CONFLICT) {
    KF_WARN("finalizer removal failed", "federatedcluster", run->key, "error", err ? err->msg : "");
    run->rc = rc;
  } else {
    clusters_remove(run->f->members, run->key);
    KF_INFO("unjoined", "federatedcluster", run->key);
  }
  fc_finish(run);
}

static void fc_unjoined(void *ctx) {
  fc_run *run = ctx;
  if (run->leftovers[0])
    ev_emit(run->f->events, run->fc, "Warning", "ForcedUnjoin", "Unjoin",
            "unjoined with %s: left behind in the member or federation API: %s", API_ANNOTATION_FORCE_UNJOIN,
            run->leftovers);
  int rc = kc_apply_finalizer(run->f->c, &API_FEDERATEDCLUSTERS, run->ns, run->name,
                              kc_obj_str(run->fc, "metadata.uid"), NULL, fc_finalizer_removed, run);
  if (rc != 0) {
    run->rc = rc;
    fc_finish(run);
  }
}

static const steps_step UNJOIN[] = {
    {"cluster", fc_unjoin_cluster},
    {"federation-credential-secret", fc_unjoin_federation_credential},
    {"member-reachable", fc_unjoin_reachable},
    {"propagated-copies", fc_unjoin_copies},
    {"dns", fc_dns},
    {"cluster-role", fc_unjoin_role},
    {"cluster-role-binding", fc_unjoin_binding},
    {"token-secret", fc_unjoin_token},
    {"service-account", fc_unjoin_sa},
    {"member-namespace", fc_unjoin_namespace},
    {"credential-secret", fc_unjoin_host},
};

void fc_unjoin(fc_run *run) {
  /* Our own deletes would each enqueue this FederatedCluster again. */
  clusters_pause(run->f->members, run->key);
  steps_set_metrics(&run->steps, run->f->metrics, "controller=\"federatedcluster\",sequence=\"unjoin\"");
  steps_begin(&run->steps, UNJOIN, STEPS_LEN(UNJOIN), run, fc_unjoined);
}
