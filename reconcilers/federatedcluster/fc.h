/* The FederatedCluster controller's parts, shared by its files (not a public header).
 *
 *   controller.c  informers, map functions, the cluster registry's callbacks, reconcile dispatch
 *   objects.c     PURE: names, desired member/host/federation objects, status bodies, watches
 *   health.c      PURE threshold machine and condition texts; the probe callback
 *   join.c        the join as a steps table, then status
 *   dns.c         the member's DNS step (join and unjoin)
 *   unjoin.c      the unjoin as a steps table (deletes, namespace content check, finalizer)
 *   status.c      status written when it differs, mirrored onto the federation's Cluster */
#ifndef KF_FC_H
#define KF_FC_H

#include <json-c/json.h>
#include <uv.h>

#include <kf/apply.h>
#include <kf/clusters.h>
#include <kf/cond.h>
#include <kf/ctrl.h>
#include <kf/ev.h>
#include <kf/informer.h>
#include <kf/steps.h>

#include "federatedcluster.h"

#define FC_RETRY_MS 15000
#define FC_DNS_NS "kube-system"
#define FC_TOKEN_POLLS 20 /* x FC_TOKEN_POLL_MS: 2 s, while the member's Secret watch has not synced */
#define FC_TOKEN_POLL_MS 100
/* With the Secret watch synced, the token's arrival is a watch event that enqueues the member:
 * a join waiting for it ends (no worker held, no status written) and only says WaitingForToken
 * once the wait is longer than this. */
#define FC_TOKEN_QUIET_MS 10000
#define FC_TOKEN_RECHECK_MS 2000 /* the requeue of a join waiting for its token (the event is first) */
#define FC_TOKEN_TRUST_MS 3000   /* then the token Secret is read through, at doubling intervals */
/* The member's version and zones (status facts) are read at a join and then at most this often
 * by reconciles (a re-reconcile for drift does not need them again). */
#define FC_FACTS_REFRESH_MS (10 * 60 * 1000)
/* Joins in flight: each mostly waits on I/O, one request at a time, so 256 keep about as many
 * requests in flight per apiserver (host, federation API, two members) as a bare client keeps (64). */
#define FC_WORKERS 256
/* A member request that hangs (a black hole, an overloaded apiserver) holds a worker and delays
 * the condition saying so: each attempt is cut at FC_MEMBER_TIMEOUT_MS and retried once, so one
 * join step gives up within about 2 x 10 s (instead of 6 x 30 s), and the join stops there. */
#define FC_MEMBER_TIMEOUT_MS 10000
#define FC_MEMBER_ATTEMPTS 2

enum { C_JOINED, C_READY, C_OFFLINE, C_CREDS, C_DNS, C_N };
extern const char *const FC_COND[C_N];

/* Member watch slots in the cluster registry. No ServiceAccount watch: a deleted ServiceAccount
 * takes its token Secret with it (the member's token controller), and that Secret is watched. */
enum { W_ROLES, W_BINDINGS, W_SECRETS, W_DNS, W_N };
/* Federation API watch slots (per Federation): what joins made there, by the ownership labels,
 * so drift (a deleted credential Secret, a `kubectl label` over a spec.clusterLabels key) is
 * undone within seconds. */
enum { FW_CLUSTERS, FW_SECRETS, FW_N };

/* ---- objects.c (pure) ---- */

typedef struct fc_names {
  char *cred;  /* host credential Secret (spec.secretName or NAME-credentials) */
  char *sa;    /* member ServiceAccount kubefed-F-NAME */
  char *role;  /* member ClusterRole and binding kubefed.dev:F:NAME */
  char *token; /* member token Secret kubefed-F-NAME-token */
} fc_names;

void fc_names_of(const fc_spec *s, fc_names *out);
void fc_names_free(fc_names *n);
/* key, value, ... NULL: what makes an object ours (apply_opts.owner_labels); fed may be "". */
void fc_owner_labels(const char *fed, const char *out[5]);
/* The label selector of our member objects for FederatedCluster name of Federation fed. */
char *fc_selector(const char *fed, const char *name);

json_object *fc_desired_namespace(const fc_spec *s);
json_object *fc_desired_service_account(const fc_spec *s, const fc_names *n);
json_object *fc_desired_role(const fc_spec *s, const fc_names *n);
json_object *fc_desired_binding(const fc_spec *s, const fc_names *n);
json_object *fc_desired_token_secret(const fc_spec *s, const fc_names *n);
/* The host Secret with a minified kubeconfig: the member's server and CA, the federation's token. */
json_object *fc_desired_credential_secret(const fc_spec *s, const fc_names *n, const char *uid, const char *server,
                                          const char *ca_pem, const char *token);
/* The same kubeconfig in the federation API (federation-system/<Cluster spec.secretRef.name>), where
 * the federation controller manager reads it; no ownerReference (its owner is on the host). */
json_object *fc_desired_federation_secret(const fc_spec *s, const fc_names *n, const char *server, const char *ca_pem,
                                          const char *token);
/* The Cluster's metadata: name, spec.clusterLabels with our ownership labels (which win), and the
 * annotation listing the spec's keys. */
json_object *fc_cluster_meta(const fc_spec *s);
json_object *fc_desired_cluster(const fc_spec *s, const fc_names *n, const char *server);
/* 1 when cluster (as the federation API has it) shows the labels, annotation and secretRef s
 * wants: a change to it that leaves this true (a status write, a label of somebody else's) needs
 * no reconcile. */
int fc_cluster_as_desired(const fc_spec *s, const fc_names *n, json_object *cluster);
/* The federation API watches (slot FW_*) of Federation fed, with selector (ownership labels). */
void fc_federation_watch_opts(int slot, const char *selector, informer_opts *o);

/* 1 when a kubeconfig's server URL is on loopback (127.0.0.0/8, ::1, localhost), as
 * `kind get kubeconfig` writes it: from an operator pod that is the pod itself. */
int fc_server_is_loopback(const char *server);
#define FC_LOOPBACK_SERVER_HINT                                                                                  \
  "; that is a loopback address, which from the operator's pod is the pod itself: use a server address the pod " \
  "can reach (for kind: `kind get kubeconfig --internal`)"

/* Sorted distinct zones and the first region of a NodeList's topology labels. */
void fc_zones_of(json_object *nodes, json_object **zones, char **region);

typedef struct fc_facts {
  const char *version, *region;
  json_object *zones; /* borrowed; NULL: none */
  const char *cred_name;
} fc_facts;
/* The FederatedCluster status apply body (without lastProbeTime, which is added only when the
 * body differs from the live status, so a probe is never a write by itself). */
json_object *fc_status_body(const fc_spec *s, json_object *conditions, const fc_facts *facts);
/* 1 when live (the FederatedCluster) already shows body's status. */
int fc_status_same(json_object *body, json_object *live);
/* 1 when the federation API's cluster shows the Ready and Offline (status, reason, message) that
 * the FederatedCluster fc does (those fc has). */
int fc_cluster_status_as_fc(json_object *cluster, json_object *fc);
/* The federation API's Cluster status: Ready and Offline as on the FederatedCluster. */
json_object *fc_cluster_status_body(const char *name, const cond *ready, const cond *offline, const fc_facts *facts,
                                    const char *now);

/* The member watches: what the join made (by the ownership labels) and the DNS ConfigMap. */
void fc_watch_opts(const fc_spec *s, int slot, const char *selector, const char *dns_cm, informer_opts *o);
/* Index functions of the FederatedClusters cache: "ns/name" of the Federation and of the kubeconfig
 * Secret each one refers to (malloc'd; NULL without one). */
char *fc_index_federation(json_object *fc, void *data);
char *fc_index_kubeconfig_secret(json_object *fc, void *data);
#define FC_INDEX_FEDERATION "federatedcluster-federation"
#define FC_INDEX_KUBECONFIG "federatedcluster-kubeconfig-secret"
/* What a FederatedCluster's reconcile reads of its Federation, as text (malloc'd): identity,
 * deletion, the admin kubeconfig's Secret and endpoint, whether it serves, spec.dns. A Federation
 * update that leaves it alone (status counts, other conditions, other spec fields) does not
 * concern its members. */
char *fc_federation_inputs(json_object *fed);

/* ---- health.c ---- */

typedef enum { FC_HEALTH_UNKNOWN, FC_HEALTH_READY, FC_HEALTH_NOT_READY, FC_HEALTH_OFFLINE } fc_health_state;

typedef struct fc_health {
  fc_health_state state;
  int successes, failures;                             /* consecutive */
  char *why;                                           /* the last failure, in words stable across probes */
  int failure_threshold, success_threshold, timeout_s; /* from the spec, set by the reconcile */
  uint64_t token_wait_ms;   /* loop time this process began waiting for the token; 0: not waiting */
  uint64_t token_read_ms;   /* the last read through of the token Secret while waiting */
  uint64_t facts_ms;        /* loop time of the last facts read (version, zones); 0: none yet */
  int64_t sa_generation;    /* the generation whose namespace and ServiceAccount this process applied */
  int64_t tried_generation; /* the generation whose member objects this process began to write */
} fc_health;

/* PURE. One probe result (why: NULL on success) against the thresholds. Returns 1 when what the
 * conditions show (state, or the failure's words while not Ready) changed. */
int fc_health_observe(fc_health *h, int ok, const char *why);
/* PURE. The words for a failed probe: which limit it hit, the same from one probe to the next. */
void fc_health_why(int rc, const kf_error *err, int timeout_s, char *buf, size_t size);
/* PURE. Ready and Offline as h says (conditions already set are kept). */
void fc_health_conds(const fc_health *h, json_object *live, cond *ready, cond *offline);
void fc_health_free(void *h);
void fc_on_probe(clusters *cl, const char *key, int rc, const kf_error *err, void *data);

/* ---- controller.c ---- */

struct fc_controller {
  uv_loop_t *loop;
  kc_client *c;
  fed_access access;
  kf_metrics *metrics;
  ev_recorder *events;
  informer *fcs, *feds, *secrets; /* shared: borrowed from the factory */
  ctrl *ctrl;
  clusters *members;  /* member key: the FederatedCluster's "ns/name" */
  clusters *feds_api; /* key: the Federation's "ns/name" */
  /* FederatedCluster keys whose run is writing status, the Cluster's first: that Cluster's change
   * is theirs, not drift (the FederatedCluster in the cache shows the new status only after). */
  json_object *mirroring;
  int active, closing;
  void (*closed)(void *arg); /* fc_controller_close's callback */
  void *closed_arg;
};

typedef struct fc_run {
  fc_controller *f;
  char *key, *ns, *name;
  json_object *fc, *fed;
  fc_spec spec; /* borrows from fc */
  fc_names names;
  const char *owner[5];
  char *selector;
  kc_client *member, *fapi; /* borrowed from the registries */
  char *token;
  char *dns_cm;            /* the member DNS ConfigMap being read */
  int dns_checked_kubedns; /* its kube-dns ConfigMap is missing and the Deployment was looked up */
  int deleting;
  int probe_only; /* joined at this generation and not healthy: no member I/O */
  int token_polls;
  int sa_proven;     /* the filled token Secret in the cache shows the namespace and ServiceAccount */
  int assume_absent; /* the first pass of a first join: the member objects are created without a read */
  int token_cached;  /* the token step had a synced Secret cache (a miss there is a wait, not a poll) */
  size_t ns_kind;
  uv_timer_t *timer; /* token polling; closed (and freed) by fc_finish */
  char *version, *region;
  json_object *zones;
  char leftovers[512];
  cond cond[C_N];
  int rc;
  uint64_t requeue_ms;
  steps steps;
} fc_run;

void fc_requeue(fc_run *run, uint64_t ms);
void fc_cond_set(fc_run *run, int which, const char *status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Stops the reconcile at a problem: the condition says what, a Warning event too, then status. */
void fc_stop(fc_run *run, int rc, int which, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void fc_finish(fc_run *run);
/* The federation API client (cached per Federation, its watches started), or NULL when its
 * kubeconfig is not there. */
kc_client *fc_federation_client(fc_run *run);
/* The federation API's key in f->feds_api: "ns/federation" (malloc'd). */
char *fc_federation_key(const fc_run *run);
/* The federation API's cache of what joins made there (its watch, FW_*), once synced; NULL: GET. */
const informer *fc_federation_cache(fc_run *run, int slot);
/* federation_api.c: a watched object in the federation API of Federation key changed. */
void fc_on_federation_change(clusters *cl, const char *key, json_object *obj, void *data);
apply_opts fc_apply_opts(fc_run *run, kc_client *c, const kc_resource *res, int slot);

/* ---- join.c, dns.c, unjoin.c, status.c ---- */

void fc_join(fc_run *run);
void fc_dns(void *run); /* a step of join and unjoin (run->deleting); then steps_next */
void fc_unjoin(fc_run *run);
void fc_status(fc_run *run); /* writes status if it changed, then fc_finish */

#endif
