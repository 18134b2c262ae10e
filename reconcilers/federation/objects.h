/* fed objects: what a Federation should look like, as pure functions.
 *
 * fed_spec_decode reads a Federation into a fed_spec (defaults applied at read
 * time, the operator never writes .spec). The fed_desired_* builders turn a spec
 * into the JSON of each child object (kubefed v1's names, keys and args), ready
 * for server-side apply; fed_leaf_ok is the certificate renewal rule and
 * fed_status_body the status the reconcile writes. They allocate nothing but
 * their result and never look at the cluster, so unit tests can check them whole.
 *
 *   spec.c         the spec, child names, SANs, the endpoint
 *   objects.c      metadata, Secrets (credentials, kubeconfigs), Service, PVC, RBAC
 *   deployments.c  the apiserver and controller manager Deployments and their args
 *   pki.c, status.c  fed_leaf_ok; the status body (next to the code that uses them) */
#ifndef KF_FED_OBJECTS_H
#define KF_FED_OBJECTS_H

#include <json-c/json.h>
#include <stdint.h>

#include <time.h>

#include <kf/cond.h>
#include <kf/error.h>
#include <kubefed/api.h>

/* Images default to the versions the operator is tested with. The controller manager has no
 * default here: it is kubefed-controller-manager from the operator's own image, which only the
 * operator's --controller-manager-image (set by the chart) or spec.controllerManager.image names. */
#define FED_DEFAULT_APISERVER_IMAGE "registry.k8s.io/kube-apiserver:v1.37.2"
#define FED_DEFAULT_ETCD_IMAGE "registry.k8s.io/etcd:3.7.0-0"
/* Where the Dockerfile installs the controller manager, next to kubefed-operator and kubefed. */
#define FED_CM_COMMAND "/usr/local/bin/kubefed-controller-manager"
#define FED_CM_HEALTH_PORT 8081
#define FED_CM_METRICS_PORT 8080

#define FED_APISERVER_PORT 8443
#define FED_ETCD_METRICS_PORT 2381 /* etcd's /livez and /metrics (kubeadm's port) */
#define FED_POD_UID 65532          /* uid, gid and fsGroup of the pods (PodSecurity restricted) */
#define FED_CREDENTIALS_DIR "/etc/federation/apiserver"
#define FED_ETCD_CLIENT_DIR "/etc/federation/etcd"
#define FED_CM_KUBECONFIG_DIR "/etc/federation/controller-manager"
#define FED_DNS_DIR "/etc/federation/dns-provider"
#define FED_DNS_KEY "federation-dns-provider.conf"

typedef enum { FED_SVC_LOADBALANCER, FED_SVC_NODEPORT, FED_SVC_CLUSTERIP } fed_service_type;

/* Strings and json values are borrowed from the Federation object, which must outlive the spec. */
typedef struct fed_spec {
  const char *name, *ns, *uid;
  int64_t generation;
  const char *dns_provider, *zone_name;
  const char *dns_config_secret, *dns_config_key; /* NULL: none */
  json_object *coredns_nameservers;
  const char *api_image;
  int api_replicas;
  fed_service_type service_type;
  const char *service_type_name;
  int node_port;
  json_object *service_annotations;
  const char *load_balancer_class;
  json_object *load_balancer_source_ranges; /* NULL: none */
  const char *advertise_address;            /* NULL: none */
  json_object *cert_sans;
  json_object *api_extra_args;
  const char *token_secret, *token_key; /* NULL: token auth off */
  json_object *api_pod;                 /* spec.apiServer: resources, scheduling */
  const char *cm_image;                 /* spec.controllerManager.image, else the operator's default; NULL: none */
  int cm_replicas;
  json_object *cm_extra_args;
  json_object *cm_pod;
  int etcd_local;
  const char *etcd_image;
  json_object *etcd_resources; /* spec.etcd.local.resources; NULL: the default requests */
  int etcd_emptydir;
  const char *etcd_size, *etcd_storage_class, *etcd_existing_claim; /* class/claim NULL: none */
  int etcd_retain;
  json_object *etcd_endpoints;
  const char *etcd_tls_secret;
  const char *ca_secret; /* NULL: generated F-ca */
  uint64_t validity_s, renew_before_s;
  const char *pull_policy;
  json_object *pull_secrets;
  int suspend;
  const char *rotate_request; /* the rotate annotation's value or NULL */
} fed_spec;

/* Reads fed (a Federation) into out. -EINVAL with a message naming the field for
 * what the CRD schema cannot catch (or an apiserver without it). */
int fed_spec_decode(json_object *fed, fed_spec *out, kf_error *err);

/* A Go duration ("8760h", "1h30m", "90s") in seconds; -EINVAL when malformed. */
int fed_parse_duration(const char *s, uint64_t *out);

/* Child object names (malloc'd). */
char *fed_child_name(const fed_spec *s, const char *suffix); /* F-suffix */
/* The PVC etcd uses: existingClaim or F-apiserver-etcd-claim; NULL without a PVC. */
char *fed_etcd_claim_name(const fed_spec *s);

/* metadata with our labels, kubefed v1's annotation and, if owned, a controller ownerReference. */
json_object *fed_meta(const fed_spec *s, const char *name, int owned);

/* The in-cluster service URL and the DNS names the serving certificate must carry. */
char *fed_service_url(const fed_spec *s);
/* NULL-terminated lists (free with fed_strv_free): service names, advertiseAddress,
 * certSANs and the Service's load-balancer ingress (lb_ingress may be NULL). */
void fed_serving_sans(const fed_spec *s, json_object *lb_ingress, char ***dns_names, char ***ips);
void fed_strv_free(char **v);

/* The URL clients outside the host cluster use, from the applied Service; NULL while
 * unknown (LoadBalancer without ingress). *pending_reason explains why (static text). */
char *fed_endpoint(const fed_spec *s, json_object *service, const char **pending_reason);

/* A kubeconfig (YAML text) with one cluster, user and context (the current one), everything
 * embedded: ca_pem (may be NULL: system CAs) and either a bearer token or a client certificate
 * and key (token NULL). The caller wipes it (it holds a credential). */
char *fed_kubeconfig(const char *cluster, const char *user, const char *context, const char *server, const char *ca_pem,
                     const char *cert_pem, const char *key_pem, const char *token);

/* The children. data: a json object of key -> base64 value (copied). */
json_object *fed_desired_secret(const fed_spec *s, const char *name, const char *type, json_object *data,
                                json_object *annotations);
json_object *fed_desired_service(const fed_spec *s);
json_object *fed_desired_pvc(const fed_spec *s); /* NULL when the spec needs none */
/* The sorted kube-apiserver args, extraArgs replacing or adding ("--k=v" strings). */
json_object *fed_apiserver_args(const fed_spec *s);
json_object *fed_desired_apiserver(const fed_spec *s, const char *config_hash);
/* The sorted kubefed-controller-manager args, extraArgs replacing or adding. */
json_object *fed_controller_manager_args(const fed_spec *s);
/* 0 when the controller manager would accept fed_controller_manager_args (cm_options_check_args,
 * the program's own table), else -EINVAL with the program's message. */
int fed_controller_manager_args_check(const fed_spec *s, kf_error *err);
/* The Deployment; s->cm_image must be set. */
json_object *fed_desired_controller_manager(const fed_spec *s, const char *config_hash);

/* Hex SHA-256 over a Secret's data (keys sorted), for the pod template annotation. */
char *fed_data_hash(json_object *data);

/* ---- the credential Secrets ---- */

/* What they hold: PEM text, and the user's inputs as stored (base64). */
typedef struct fed_credential_inputs {
  const char *ca_cert;
  const char *server_cert, *server_key;
  const char *cm_cert, *cm_key; /* the controller manager's client certificate */
  const char *admin_cert, *admin_key;
  const char *sa_pub, *sa_key; /* service-account signing key pair */
  const char *token_csv;       /* NULL: token auth off */
  const char *dns_config;      /* NULL: no spec.dns.providerConfigSecretRef */
  const char *endpoint;        /* the admin kubeconfig's server; NULL: the service URL */
} fed_credential_inputs;

typedef struct fed_credential_secrets {
  json_object *apiserver;         /* F-apiserver-credentials */
  json_object *cm_kubeconfig;     /* F-controller-manager-kubeconfig */
  json_object *admin_kubeconfig;  /* F-admin-kubeconfig */
  json_object *dns_provider;      /* F-dns-provider; NULL without a provider config */
  char *apiserver_hash, *cm_hash; /* of the first two Secrets' data: the pods roll when it changes */
  char *admin_kubeconfig_text;    /* the admin kubeconfig (holds its key) */
} fed_credential_secrets;

/* The Secrets the apiserver and controller manager mount, and the admin kubeconfig. */
void fed_desired_credential_secrets(const fed_spec *s, const fed_credential_inputs *in, fed_credential_secrets *out);
/* Wipes and frees what is still held (a Secret handed on is set to NULL by the caller). */
void fed_credential_secrets_free(fed_credential_secrets *cs);

/* ---- certificate renewal (pki.c) ---- */

/* What the reconcile knows about a leaf certificate it found. */
typedef struct fed_leaf_facts {
  int valid;  /* present, its key matching, signed by the current CA */
  int covers; /* carries every SAN wanted now (client certificates: 1) */
  time_t not_before, not_after;
} fed_leaf_facts;

/* 1 when the leaf can stay at now, with *renew_at the moment it must be reissued: renewBefore
 * ahead of its expiry, or at 2/3 of its lifetime when renewBefore is not below the spec's
 * validity (cert-manager's rule: else every new certificate would be reissued at once). 0 when it
 * must be reissued now: not valid, a SAN missing, its renewal moment reached, or rotate (the
 * rotate annotation asks for new certificates). */
int fed_leaf_ok(const fed_spec *s, const fed_leaf_facts *leaf, int rotate, time_t now, time_t *renew_at);

/* ---- status (status.c) ---- */

enum { FED_READY, FED_PROGRESSING, FED_DEGRADED, FED_CERTS, FED_ETCD, FED_APISERVER, FED_CM, FED_NCOND };
extern const char *const fed_condition_types[FED_NCOND];

/* Fills the conditions a run did not decide: parts not reached are Unknown/Pending, Degraded
 * False unless set, Ready and Progressing from the first part that is not True. serving_at
 * names the endpoint in the Ready message. */
void fed_summarize(cond conds[FED_NCOND], const char *serving_at);
/* Why a Deployment cannot make its replicas, as the deployment controller says in its conditions:
 * ReplicaFailure=True (FailedCreate: a PodSecurity or ResourceQuota rejection, a missing
 * ServiceAccount) or Progressing=False (ProgressDeadlineExceeded: image pulls, crash loops, pods
 * that never schedule). Availability alone reads all of these as "0/1 available". 1 with the
 * condition's type as *reason (static) and "REASON: message" in buf, else 0. */
int fed_deployment_failure(json_object *deployment, const char **reason, char *buf, size_t size);
/* Terminating, Ready, Degraded or Progressing: a summary of the conditions for people. */
const char *fed_phase(int deleting, const cond conds[FED_NCOND]);

typedef struct fed_status_facts {
  int64_t generation;
  const cond *conds;             /* FED_NCOND, summarized */
  const char *endpoint;          /* NULL while pending */
  const char *kubeconfig_secret; /* NULL until the admin kubeconfig exists */
  time_t not_after;              /* the earliest leaf expiry; 0: unknown */
  int joined_clusters;
  const cond *dns; /* DNSReady (fed_dns_condition); NULL or not set: no such condition */
} fed_status_facts;

/* DNSReady, set only when it has something to say: False, reason ProviderUnsupported, while
 * spec.dns.provider is one this version cannot publish records with (google-clouddns,
 * aws-route53, azure-azuredns) and the controller manager's services controller is on (not
 * turned off by spec.controllerManager.extraArgs controllers: services=false, as kubefed v1's
 * documented google-clouddns example does). Ready does not depend on it. Pure. */
void fed_dns_condition(const fed_spec *s, cond *c);

/* The .status for facts; conditions keep fed's lastTransitionTime while their status holds. */
json_object *fed_status_body(json_object *fed, const fed_status_facts *facts);
/* 1 when fed's status differs from status (a write is needed). */
int fed_status_changed(json_object *fed, json_object *status);

#endif
