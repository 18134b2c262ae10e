/* servicedns: the DNS records of federated LoadBalancer Services, as pure functions.
 *
 * kubefed v1's service DNS controller gave each federated Service three levels of names
 * (reference §5.2), for P = <svc>.<ns>.<federation>.svc and S = the provider's zone:
 *
 *   zone    P.<zones[0]>.<region>.S   uplevel: the region name
 *   region  P.<region>.S              uplevel: the global name
 *   global  P.S                       uplevel: none
 *
 * A level answers with the A records of the healthy load balancer addresses it covers (zone:
 * clusters sharing a zone with the cluster; region: clusters of its region; global: all); a
 * level with none becomes a CNAME one level up, and the global name goes away. TTL 180.
 *
 * The coredns provider keeps them as SkyDNS keys in etcd: /skydns/<reversed labels of name>/<h>
 * holding {"host":...,"ttl":180,"group":name}, where h is the FNV-1a-32 of the host in
 * lower-case hex (v1's layout, so CoreDNS's etcd plugin serves them). A record set is compared
 * with what etcd holds as a set: an unchanged set plans no write (v1 deleted and re-added
 * multi-address sets on every sync).
 *
 * Nothing here does I/O: the controller reads etcd and the Services, calls these, and writes
 * what they return. Inputs from the provider file and from Cluster objects are untrusted:
 * garbage gives -EINVAL with a message, never a crash. Every function that fills a struct
 * leaves it zeroed on failure; the _free functions accept a zeroed struct. */
#ifndef KF_SERVICEDNS_H
#define KF_SERVICEDNS_H

#include <json-c/json.h>
#include <netdb.h>
#include <stddef.h>
#include <uv.h>

#include <kf/error.h>
#include <kf/http.h>
#include <kf/informer.h>
#include <kf/metrics.h>

/* v1's minDNSTTL: every record is written with it. */
#define SERVICEDNS_TTL 180
/* The etcd endpoint v1 used when the provider file names none. */
#define SERVICEDNS_DEFAULT_ETCD "http://federation-dns-server-etcd:2379"
/* A provider file is a few lines; anything bigger is not one. */
#define SERVICEDNS_MAX_CONFIG_BYTES (64 * 1024)

/* ---- the coredns provider file (--dns-provider-config), v1's gcfg INI ----
 *
 *   [Global]
 *   etcd-endpoints = http://etcd-cluster.ns:2379
 *   zones = example.com.
 *   coredns-endpoints = 10.0.0.53:53
 *   etcd-cert-file = /path  (with etcd-key-file; etcd-ca-file for the server's CA)
 *
 * Section and variable names are case-insensitive, values may be "quoted", ';' and '#' start
 * comments, a repeated variable takes the last value (as gcfg). Unknown sections or variables
 * are -EINVAL, as gcfg refuses them. Lists are comma-separated, blanks trimmed. */
typedef struct servicedns_config {
  char **etcd_endpoints;    /* NULL-terminated; SERVICEDNS_DEFAULT_ETCD when the file names none */
  char **zones;             /* NULL-terminated, at least one, lower case, without the trailing dot */
  char **coredns_endpoints; /* NULL-terminated, possibly empty: only the join uses them */
  char *etcd_cert_file;     /* NULL when not set; cert and key come together */
  char *etcd_key_file;
  char *etcd_ca_file;
} servicedns_config;

/* Parses the file's text (len bytes, need not be NUL-terminated): 0, or -EINVAL (message naming
 * the line) for a malformed line, an unknown section or variable, no zone ("Need to provide at
 * least one DNS Zone", v1's words), an endpoint that is not http:// or https://, a cert without a
 * key or a key without a cert; -EFBIG over SERVICEDNS_MAX_CONFIG_BYTES. */
int servicedns_config_parse(const char *text, size_t len, servicedns_config *out, kf_error *err);
void servicedns_config_free(servicedns_config *c);

/* ---- names and keys ---- */

/* The service whose names are planned. All strings are borrowed. */
typedef struct servicedns_service {
  const char *name;       /* the Service's name: a DNS-1035 label */
  const char *namespace_; /* DNS-1123 label */
  const char *federation; /* DNS-1123 label */
  const char *suffix;     /* the DNS zone (or --service-dns-suffix), trailing dot optional */
} servicedns_service;

/* A Ready-or-remembered cluster listed in the Service's service-ingresses annotation. */
typedef struct servicedns_cluster {
  const char *name;
  const char *region;           /* Cluster status.region */
  const char *const *zones;     /* Cluster status.zones, NULL-terminated; zones[0] names the zone level */
  const char *const *addresses; /* the healthy load balancer addresses (IPs; host names resolved by the
                                   * caller), NULL-terminated; NULL or empty when it has none */
} servicedns_cluster;

typedef enum {
  SERVICEDNS_REMOVE, /* the name must not exist */
  SERVICEDNS_A,      /* hosts are IP addresses (an IPv6 one is served as AAAA by CoreDNS) */
  SERVICEDNS_CNAME,  /* hosts[0] is the target name */
} servicedns_kind;

/* One name's desired records. */
typedef struct servicedns_rrset {
  char *name; /* lower case, no trailing dot */
  servicedns_kind kind;
  char **hosts; /* NULL-terminated: sorted unique addresses for A, one name for CNAME, none for REMOVE */
  size_t n_hosts;
} servicedns_rrset;

typedef struct servicedns_plan {
  servicedns_rrset *sets; /* sorted by name, each name once */
  size_t n;
} servicedns_plan;

/* The desired records of svc for the clusters listed in its annotation (n of them, may be 0),
 * v1's ensureDNSRecords over every listed cluster: per cluster its zone, region and global
 * names. deleted (the Service is gone or being deleted) plans SERVICEDNS_REMOVE for every name
 * the clusters give: the names go entirely (v1 left CNAMEs behind). -EINVAL (message) for a
 * service field that is not a DNS label, a cluster without zones or region (v1: "failed to get
 * cluster zone names"), or a zone or region that is not a DNS label. */
int servicedns_plan_build(const servicedns_service *svc, const servicedns_cluster *clusters, size_t n, int deleted,
                          servicedns_plan *out, kf_error *err);
void servicedns_plan_free(servicedns_plan *p);
/* The rrset for name in p, or NULL. */
const servicedns_rrset *servicedns_plan_find(const servicedns_plan *p, const char *name);

/* Whether name (no trailing dot, lower case) is one of svc's zone, region or global names,
 * whichever clusters gave it: P.S, P.x.S or P.x.y.S. Lets the controller find the names of a
 * Service that no listed cluster gives any more (a member that left) among what etcd holds. */
int servicedns_name_is_of(const servicedns_service *svc, const char *name);

/* FNV-1a-32 of s, v1's key suffix. */
unsigned servicedns_fnv1a32(const char *s);
/* The SkyDNS key of host under name: "/skydns/<reversed labels of name>/<fnv1a hex of host>".
 * Caller frees. */
char *servicedns_key(const char *name, const char *host);
/* The key prefix of name's records: "/skydns/<reversed labels of name>/". Caller frees. */
char *servicedns_key_dir(const char *name);
/* The value written for host under name: {"host":host,"ttl":SERVICEDNS_TTL,"group":name}. Caller frees. */
char *servicedns_value(const char *name, const char *host);
/* The name a SkyDNS key's record belongs to (the key without its last label, labels reversed
 * back): 0 and *name (caller frees), or -EINVAL for a key not of the form /skydns/L1/.../Ln/H. */
int servicedns_key_name(const char *key, size_t len, char **name);

/* ---- set comparison ---- */

/* One key and its value as etcd holds them. */
typedef struct servicedns_kv {
  char *key;
  char *value;
} servicedns_kv;

/* What to write for one name. */
typedef struct servicedns_ops {
  servicedns_kv *puts; /* key and value to put */
  size_t n_puts;
  char **deletes; /* keys to delete */
  size_t n_deletes;
} servicedns_ops;

/* Compares want with have, the n keys etcd holds directly under want's name (keys one label
 * below servicedns_key_dir(name); others are ignored): puts for the hosts whose key is missing
 * or holds another value, deletes for every other key. A set etcd already holds, in any order,
 * gives no op. Cannot fail. */
void servicedns_diff(const servicedns_rrset *want, const servicedns_kv *have, size_t n, servicedns_ops *ops);
void servicedns_ops_free(servicedns_ops *ops);

/* ---- the service-ingresses annotation (the Service controller writes it, DNS reads it) ----
 *
 * federation.kubernetes.io/service-ingresses on the federated Service, v1's final form (reference
 * §5.1, federation commit f08988187): {"items":[{"cluster":"c1","items":[{"ip":"1.2.3.4"}]},
 * {"cluster":"c2","items":null}]}, sorted by cluster. A Ready member is listed when its copy has
 * load balancer ingress; its items are that ingress only while its EndpointSlices have a ready
 * endpoint. A member that is not Ready keeps its last entry (v1: "until a reliable cluster health
 * check is available"); a member that left the federation is dropped. Never copied to members. */
#define SERVICEDNS_ANNOTATION "federation.kubernetes.io/service-ingresses"

typedef struct servicedns_member {
  const char *name;
  int ready;            /* the Cluster is Ready */
  json_object *ingress; /* its copy's status.loadBalancer.ingress (borrowed; NULL: none) */
  int endpoints_ready;  /* its EndpointSlices of the Service have a ready endpoint */
} servicedns_member;

/* The annotation's new value for the n members of the federation (any order), given its current
 * value (NULL or unparsable: none). Malloc'd; "{"items":[]}" when nothing is listed. */
char *servicedns_ingresses_build(const char *current, const servicedns_member *members, size_t n);

/* One listed cluster of an annotation. */
typedef struct servicedns_listed {
  char *cluster;
  char **addresses; /* NULL-terminated: each item's ip, else its hostname */
} servicedns_listed;
/* Parses an annotation: 0 and *out (n entries), or -EINVAL (message) when it is not the format
 * above. */
int servicedns_ingresses_parse(const char *text, servicedns_listed **out, size_t *n, kf_error *err);
void servicedns_listed_free(servicedns_listed *l, size_t n);

/* Whether EndpointSlices (n objects, any may be NULL) have an endpoint ready for traffic:
 * conditions.ready true, or absent (the API says to read nil as ready). */
int servicedns_slices_ready(json_object *const *slices, size_t n);

/* ---- the coredns provider: a zone's records in etcd ----
 *
 * A servicedns_zone mirrors every SkyDNS key under the zone (one range at load), so applying a
 * Service's plan compares against memory and sends etcd only what differs: nothing at all for an
 * unchanged plan, including after a restart (the load reads what the last run wrote). A Service's
 * changes go in one transaction (in chunks of SERVICEDNS_TXN_OPS, etcd's default --max-txn-ops
 * being 128), so CoreDNS never serves half a change of a name; applies that arrive while two
 * transactions are in flight share the next one (group commit). The mirror follows the writes that
 * succeeded; a failed transaction changed nothing (etcd applies it whole or not at all). Names of
 * the Service that its plan no longer gives (a member that left) are found in the mirror and
 * removed. One zone serves one caller at a time per Service; calls for different Services may
 * overlap. */
#define SERVICEDNS_TXN_OPS 100

typedef struct servicedns_zone servicedns_zone;
typedef struct etcd_client etcd_client;
/* rc 0 or negative (err set); the zone mirrors what etcd holds for the Service either way. */
typedef void (*servicedns_zone_cb)(servicedns_zone *z, int rc, const kf_error *err, void *data);

/* A zone ("example.com", trailing dot optional) written through etcd (borrowed; outlives z). */
servicedns_zone *servicedns_zone_new(etcd_client *etcd, const char *zone);
/* Reads every key under the zone into the mirror (replacing it). 0 and cb later, or negative. */
int servicedns_zone_load(servicedns_zone *z, servicedns_zone_cb cb, void *data, kf_error *err);
/* Makes etcd hold exactly plan for svc (plan from servicedns_plan_build with svc; its suffix must
 * be the zone's). 1 when etcd already does (no write, no callback); 0 and cb once written; or a
 * negative code (err) when nothing was started. */
int servicedns_zone_apply(servicedns_zone *z, const servicedns_service *svc, const servicedns_plan *plan,
                          servicedns_zone_cb cb, void *data, kf_error *err);
/* Transactions sent so far (a test's or a metric's "nothing changed, nothing written"). */
uint64_t servicedns_zone_writes(const servicedns_zone *z);
/* How many keys the mirror holds. */
size_t servicedns_zone_keys(const servicedns_zone *z);
/* Frees z; only with no call in flight (close the etcd client first: its callbacks run). */
void servicedns_zone_free(servicedns_zone *z);

/* ---- load balancer host names (AWS ELBs): A records of what they resolve to ----
 *
 * A member's load balancer ingress may be a host name. Its IPv4 addresses are its A records
 * (IPv6 ones would be AAAA: not asked for). getaddrinfo blocks, so it runs on libuv's thread pool,
 * at most max_inflight at once (the pool has 4 threads, shared), each given up after timeout_ms
 * (the thread stays busy until the C library's own resolver gives up; its late answer is taken).
 * Answers are cached per host name: a Service's sync reads the cache and asks again only once the
 * answer is ttl_ms old (retry_ms after a failure), so syncs do not resolve. A host that does not
 * resolve gives no address (logged once until it resolves again). */
#define SERVICEDNS_RESOLVE_TTL_MS 60000
#define SERVICEDNS_RESOLVE_RETRY_MS 15000
#define SERVICEDNS_RESOLVE_TIMEOUT_MS 10000
#define SERVICEDNS_RESOLVE_INFLIGHT 2

/* The IPv4 addresses of an addrinfo list, dotted, sorted, unique, NULL-terminated (possibly
 * empty; other families skipped). Pure. Free with servicedns_strv_free. */
char **servicedns_ipv4_of(const struct addrinfo *ai);
void servicedns_strv_free(char **v);

typedef struct servicedns_resolver servicedns_resolver;
/* A host's answer changed: key (as given to servicedns_resolver_get) should sync again. Runs on
 * the loop, never within a servicedns_resolver_get. */
typedef void (*servicedns_resolved_cb)(const char *key, void *data);
typedef struct servicedns_resolver_opts {
  uint64_t ttl_ms, retry_ms, timeout_ms; /* 0: the SERVICEDNS_RESOLVE_* defaults */
  int max_inflight;
  servicedns_resolved_cb cb;
  void *data;
} servicedns_resolver_opts;

servicedns_resolver *servicedns_resolver_new(uv_loop_t *loop, const servicedns_resolver_opts *o);
/* host's addresses for key: 0 and *out (NULL-terminated, possibly empty: it does not resolve;
 * caller frees with servicedns_strv_free) and *refresh_ms (when to ask again: the answer is then
 * refreshed, which tells key through cb if it changed); or 1 while the first answer is awaited
 * (cb then tells key, at the latest after timeout_ms). A name that is not a DNS name gives 0 and
 * no address. */
int servicedns_resolver_get(servicedns_resolver *r, const char *host, const char *key, char ***out,
                            uint64_t *refresh_ms);
/* Stops (no cb any more); done(arg) once the lookups running on the pool have ended; frees r. */
void servicedns_resolver_close(servicedns_resolver *r, void (*done)(void *arg), void *arg);

/* ---- the service-dns controller (kubefed-controller-manager --controllers service-dns) ----
 *
 * v1's service DNS controller with the coredns provider: for each federated Service of type
 * LoadBalancer, the clusters its service-ingresses annotation lists, with zones and region from
 * their Cluster objects (status.zones[0], status.region, which the operator maintains), become a
 * plan applied to the zone (a listed Cluster without zones or region fails the Service, retried
 * with backoff, as v1: dropping it would remove its names and write them back later). A Service that is gone, being deleted or no longer LoadBalancer has
 * its names removed. Level-based: a change to the Service (its annotation) or to a Cluster
 * requeues what it affects; a failed write is retried with backoff. Host names in load balancer
 * ingress are resolved (servicedns_resolver): a Service waits for a name's first answer (at most
 * its timeout) before its records are written, so a start or a new load balancer does not write
 * records without it only to write them again; then it is synced again when the answer is due
 * for a refresh and whenever the answer changes. */
typedef struct servicedns_ctrl servicedns_ctrl;

typedef struct servicedns_ctrl_opts {
  const char *config_path; /* --dns-provider-config (the coredns provider file) */
  const char *federation;  /* --federation-name */
  const char *suffix;      /* --service-dns-suffix, else --zone-name: one of the file's zones */
  http_engine *eng;
  /* The federation API: the controller watches its Services with an informer of its own, since the
   * propagation controller's shared one stores its own annotation writes without telling other
   * handlers (informer_update_cache), and this controller reads exactly those writes. */
  kc_client *fed;
  informer *clusters; /* the federation API's Cluster objects (shared; borrowed) */
  kf_metrics *metrics;
  int workers;
  /* Optional: a Service's service-ingresses as the members say now (previous: its annotation), NULL
   * when they cannot say (caches listing, no Services controller): the annotation is read then.
   * Records then follow the members without waiting for the annotation's write; the caller enqueues
   * the Services whose members changed (servicedns_ctrl_enqueue). The result is freed here. */
  char *(*ingresses)(const char *key, const char *previous, void *data);
  void *ingresses_data;
} servicedns_ctrl_opts;

/* Reads the provider file (and the etcd TLS files it names): 0 and *out, or -EINVAL/-errno with
 * a message naming the file or setting. Nothing is sent before servicedns_ctrl_load. */
int servicedns_ctrl_new(uv_loop_t *loop, const servicedns_ctrl_opts *o, servicedns_ctrl **out, kf_error *err);
/* Reads the zone's records from etcd (retried from 2 s, doubling to 60 s, until it answers);
 * Services are reconciled only once it is read. */
void servicedns_ctrl_load(servicedns_ctrl *c);
/* The informers have listed. Not whether etcd answered: an unreachable DNS etcd holds only the
 * records (logged), not the controller manager's readiness and with it the Federation's. */
int servicedns_ctrl_synced(const servicedns_ctrl *c);
void servicedns_ctrl_start(servicedns_ctrl *c);
/* Stops; done(arg) once what runs has ended; frees c. */
void servicedns_ctrl_close(servicedns_ctrl *c, void (*done)(void *arg), void *arg);
/* Looks at Service key (ns/name) again; a no-op once closing. */
void servicedns_ctrl_enqueue(servicedns_ctrl *c, const char *key);

#endif
