/* What the Federation controller's files share; nothing outside this folder includes it.
 *
 * A reconcile is one fed_run walking FED_STEPS (controller.c) whose steps live in inputs.c (the
 * user's Secrets and claim), pki.c (CA, certificates), children.c (host objects), bootstrap.c (the
 * federation API); status.c writes the status once at the end. A step ends by calling steps_next,
 * or stops the run with fed_stop (Degraded) or fed_end (waiting, not a problem). */
#ifndef KF_FEDERATION_INTERNAL_H
#define KF_FEDERATION_INTERNAL_H

#include <json-c/json.h>
#include <stdint.h>
#include <time.h>

#include <kf/apply.h>
#include <kf/cond.h>
#include <kf/ctrl.h>
#include <kf/informer.h>
#include <kf/steps.h>

#include "certs/certs.h"
#include "federation.h"
#include "objects.h"

#define FED_RETRY_MS 30000    /* bad input: look again later (and on every change) */
#define FED_API_RETRY_MS 5000 /* the federation API is not answering yet */
#define FED_MAX_REQUEUE_MS (6ull * 3600 * 1000)
/* The CA outlives the certificates it signs, which rotate within its lifetime. */
#define FED_CA_VALIDITY_S (10ull * 365 * 24 * 3600)

/* Host children we watch (label managed-by=kubefed-operator) to restore drift within seconds. The
 * ServiceAccount, Role and RoleBinding are no longer made: they are watched so that those of an
 * earlier version (F-controller-manager) are found, and deleted, without a request per reconcile. */
#define FED_NCHILDREN 7
extern const kc_resource *const fed_children[FED_NCHILDREN];

/* Facts about credentials read on an earlier reconcile (pki.c), by the SHA-256 of what they were
 * read from; five per Federation (the CA, three leaves and the service-account key pair). */
#define FED_FACTS_MEMO 32
typedef struct fed_facts_memo {
  unsigned char digest[32];
  time_t at; /* when read; 0: empty */
  fed_leaf_facts facts;
} fed_facts_memo;

struct fed_controller {
  uv_loop_t *loop;
  kc_client *c;
  fed_access access;
  kf_metrics *metrics;
  ev_recorder *events;
  informer *feds, *clusters, *children[FED_NCHILDREN]; /* shared: borrowed from the factory */
  const char *cm_image;                                /* fed_options.cm_image */
  ctrl *ctrl;
  int active;
  int closing;
  void (*closed)(void *arg); /* fed_controller_close's callback */
  void *closed_arg;
  fed_facts_memo facts[FED_FACTS_MEMO];
  unsigned facts_next; /* the slot the next new entry replaces */
};

/* User-owned inputs the spec names; read (never watched, never written) on each reconcile. */
enum { IN_CA, IN_DNS, IN_TOKEN, IN_ETCD_TLS, IN_CLAIM, IN_N };
/* The credentials the CA signs (CRED_SA: a bare key pair). */
enum { CRED_SERVER, CRED_CM, CRED_ADMIN, CRED_SA, CRED_N };

typedef struct fed_run fed_run;
typedef void (*fed_live_fn)(fed_run *run, json_object *live);

/* One reconcile: owns the Federation it read and everything it allocates. */
struct fed_run {
  fed_controller *f;
  char *key, *ns, *name;
  json_object *fed;
  fed_spec spec;
  steps steps;
  const char *owner_labels[5]; /* managed-by and federation: what makes a host object ours */
  json_object *in[IN_N];
  int input; /* the input the running step reads */
  certs_pair ca;
  const char *ca_source_reason;
  char *ca_source;
  json_object *service; /* the Service as applied or cached */
  char *endpoint;       /* status.endpoint; NULL while pending */
  const char *endpoint_pending;
  char **san_dns, **san_ip;
  certs_pair cred[CRED_N]; /* current or newly issued */
  int need[CRED_N];        /* which to issue */
  int issuing;             /* the credential the running step issues */
  int issued;
  time_t not_after;               /* earliest leaf expiry */
  time_t renew_at;                /* earliest renewal moment */
  fed_credential_secrets secrets; /* desired; each is NULL once handed to apply */
  json_object *apiserver, *pvc;   /* as applied or cached */
  const kc_resource *applying;    /* the child apply_ensure is writing, for messages */
  char *applying_name;
  fed_live_fn applied;
  kc_client *fapi; /* the federation API, during the bootstrap */
  char *fapi_url;
  const char *boot_namespace; /* the namespace the running step makes sure of */
  cond cond[FED_NCOND];
  int rc;
  uint64_t requeue_ms;
};

/* controller.c: the run */
void fed_requeue(fed_run *run, uint64_t ms);
void fed_cond_set(fed_run *run, int which, const char *status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Stops the run at a problem the user (or time) must fix: Degraded (and which) say what and why.
 * rc < 0 retries with backoff (API failures); 0 waits for a change or FED_RETRY_MS. */
void fed_stop(fed_run *run, int rc, int which, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The rc to stop with after an API error: 0 (look again slowly) for terminal ones. */
int fed_api_rc(int rc);
/* Stops the run where it is (waiting for something, the conditions say what) and writes status. */
void fed_end(fed_run *run);
void fed_finish(fed_run *run);
/* steps_next for a fed_live_fn. */
void fed_next(fed_run *run, json_object *live);
informer *fed_cache(fed_controller *f, const kc_resource *res);
/* Our child F-suffix from the cache (a new reference) or NULL. */
json_object *fed_cached(fed_run *run, const kc_resource *res, const char *suffix);
/* Secret data[key] decoded (NUL-terminated, malloc'd) or NULL; free with fed_secret_value_free. */
char *fed_secret_value(json_object *secret, const char *key);
void fed_secret_value_free(char *v);

/* The steps, in FED_STEPS order. */
void fed_step_input_ca(void *run); /* inputs.c */
void fed_step_input_dns(void *run);
void fed_step_input_token(void *run);
void fed_step_input_etcd_tls(void *run);
void fed_step_input_claim(void *run);
void fed_step_ca(void *run);                /* pki.c */
void fed_step_service(void *run);           /* children.c */
void fed_step_read_certificates(void *run); /* pki.c */
void fed_step_issue_server(void *run);
void fed_step_issue_cm(void *run);
void fed_step_issue_admin(void *run);
void fed_step_issue_sa(void *run);
void fed_step_certificates_ready(void *run);
void fed_step_credential_secrets(void *run); /* children.c */
void fed_step_apiserver_credentials(void *run);
void fed_step_cm_kubeconfig(void *run);
void fed_step_admin_kubeconfig(void *run);
void fed_step_dns_provider(void *run);
void fed_step_etcd_claim(void *run);
void fed_step_legacy_service_account(void *run);
void fed_step_legacy_role(void *run);
void fed_step_legacy_role_binding(void *run);
void fed_step_apiserver(void *run);
void fed_step_federation_api(void *run); /* bootstrap.c */
void fed_step_readyz(void *run);
void fed_step_ns_federation_system(void *run);
void fed_step_ns_default(void *run);
void fed_step_cluster_crd(void *run);
void fed_step_serving(void *run);
void fed_step_controller_manager(void *run); /* children.c */

/* children.c: makes desired (taken) true on the host through apply_ensure, then calls done with
 * the live object (borrowed). A failure stops the run: NameConflict, ReadFailed or ApplyFailed. */
void fed_apply(fed_run *run, const kc_resource *res, json_object *desired, fed_live_fn done);
/* Deletes our child F-suffix if the cache holds it (apply_delete: ours, uid precondition), then
 * calls done with NULL. A failure stops the run: DeleteFailed. */
void fed_delete(fed_run *run, const kc_resource *res, const char *suffix, fed_live_fn done);

/* status.c */
/* The FederatedCluster indexes by Federation key ("ns/name", controller.c): every member, and the
 * members that joined. */
#define FED_INDEX_MEMBERS "kubefed.dev/federation"
#define FED_INDEX_JOINED "kubefed.dev/joined-federation"
typedef struct fed_count {
  int total;
  char names[256];
} fed_count;
void fed_count_clusters(fed_run *run, fed_count *n);
/* Summarizes the conditions, writes status if it changed, and finishes the run. */
void fed_write_status(fed_run *run);

/* The object builders' shared helpers (spec.c: the first two; objects.c). */
int fed_is_ip(const char *s);
int fed_cmp_str(const void *a, const void *b); /* qsort of char * */
json_object *fed_object(const fed_spec *s, const char *api_version, const char *kind, const char *name, int owned);
json_object *fed_selector(const fed_spec *s, const char *module);

#endif
