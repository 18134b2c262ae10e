/* fed spec: a Federation read into a fed_spec (defaults at read time), and what follows from
 * the spec alone: child names, the serving certificate's SANs, the endpoint clients use.
 * Pure functions (objects.h). */
#include "objects.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kf/kc.h>
#include <kf/kj.h>

#include "federation_internal.h"

/* ---- the spec ---- */

int fed_parse_duration(const char *s, uint64_t *out) {
  double seconds;
  if (kf_parse_duration(s, &seconds) != 0 || seconds > 100.0 * 365 * 24 * 3600) return -EINVAL;
  *out = (uint64_t)seconds;
  return 0;
}

static const char *fed_str_or(json_object *obj, const char *path, const char *def) {
  const char *v = kc_obj_str(obj, path);
  return (v && v[0]) ? v : def;
}

static int64_t fed_int_or(json_object *obj, const char *path, int64_t def) {
  json_object *v = kc_obj_get(obj, path);
  return v ? json_object_get_int64(v) : def;
}

static int fed_bool_or(json_object *obj, const char *path, int def) {
  json_object *v = kc_obj_get(obj, path);
  return v ? json_object_get_boolean(v) : def;
}

/* The builders iterate these with json-c calls that abort on another type (and
 * kj_join needs strings): the CRD schema guarantees the types, but an apiserver
 * without it (or an edited CRD) must get a message, not a crashed operator. */
static int fed_is_array_of_strings(json_object *v) {
  if (!v) return 1;
  if (!json_object_is_type(v, json_type_array)) return 0;
  for (size_t i = 0; i < json_object_array_length(v); i++)
    if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string)) return 0;
  return 1;
}

static int fed_is_map_of_strings(json_object *v) {
  if (!v) return 1;
  if (!json_object_is_type(v, json_type_object)) return 0;
  json_object_object_foreach (v, k, val) {
    (void)k;
    if (!json_object_is_type(val, json_type_string)) return 0;
  }
  return 1;
}

/* An integer field within [lo, hi] (default def); -EINVAL, not a silently wrapped
 * value, for anything else (4294967297 replicas must not become 1). */
static int fed_int_in(json_object *obj, const char *path, int64_t def, int64_t lo, int64_t hi, int *out) {
  json_object *v = kc_obj_get(obj, path);
  int64_t n = def;
  if (v) {
    if (!json_object_is_type(v, json_type_int)) return -EINVAL;
    n = json_object_get_int64(v);
  }
  if (n < lo || n > hi) return -EINVAL;
  *out = (int)n;
  return 0;
}

int fed_spec_decode(json_object *fed, fed_spec *s, kf_error *err) {
  json_object *spec = kc_obj_get(fed, "spec");
  memset(s, 0, sizeof(*s));
  s->name = kc_obj_str(fed, "metadata.name");
  s->ns = kc_obj_str(fed, "metadata.namespace");
  s->uid = kc_obj_str(fed, "metadata.uid");
  s->generation = fed_int_or(fed, "metadata.generation", 0);
  s->rotate_request = kc_obj_key_str(kc_obj_get(fed, "metadata.annotations"), API_ANNOTATION_ROTATE);
  if (!s->name || !s->ns || !s->uid || !spec) return kf_error_set(err, -EINVAL, "Federation has no metadata or spec");
  if (strlen(s->name) > 50) return kf_error_set(err, -EINVAL, "metadata.name is longer than 50 characters");

  s->dns_provider = kc_obj_str(spec, "dns.provider");
  s->zone_name = kc_obj_str(spec, "dns.zoneName");
  if (!s->dns_provider || (strcmp(s->dns_provider, "coredns") && strcmp(s->dns_provider, "google-clouddns") &&
                           strcmp(s->dns_provider, "aws-route53") && strcmp(s->dns_provider, "azure-azuredns")))
    return kf_error_set(err, -EINVAL,
                        "spec.dns.provider must be coredns, google-clouddns, aws-route53 or azure-azuredns");
  if (!s->zone_name || strlen(s->zone_name) < 2 || s->zone_name[strlen(s->zone_name) - 1] != '.')
    return kf_error_set(err, -EINVAL,
                        "spec.dns.zoneName must be fully qualified and end with a dot, e.g. example.com.");
  s->dns_config_secret = fed_str_or(spec, "dns.providerConfigSecretRef.name", NULL);
  s->dns_config_key = fed_str_or(spec, "dns.providerConfigSecretRef.key", "provider.conf");
  s->coredns_nameservers = kc_obj_get(spec, "dns.corednsNameservers");
  if (!fed_is_array_of_strings(s->coredns_nameservers))
    return kf_error_set(err, -EINVAL, "spec.dns.corednsNameservers must be a list of strings");
  /* Optional even with coredns, as in kubefed v1: without it joins add no forward block. */
  if (s->coredns_nameservers && json_object_array_length(s->coredns_nameservers) == 0) s->coredns_nameservers = NULL;

  s->api_pod = kc_obj_get(spec, "apiServer");
  s->api_image = fed_str_or(spec, "apiServer.image", FED_DEFAULT_APISERVER_IMAGE);
  if (fed_int_in(spec, "apiServer.replicas", 1, 1, 9, &s->api_replicas) != 0)
    return kf_error_set(err, -EINVAL, "spec.apiServer.replicas must be an integer from 1 to 9");
  s->service_type_name = fed_str_or(spec, "apiServer.service.type", "LoadBalancer");
  if (strcmp(s->service_type_name, "LoadBalancer") == 0) s->service_type = FED_SVC_LOADBALANCER;
  else if (strcmp(s->service_type_name, "NodePort") == 0) s->service_type = FED_SVC_NODEPORT;
  else if (strcmp(s->service_type_name, "ClusterIP") == 0) s->service_type = FED_SVC_CLUSTERIP;
  else return kf_error_set(err, -EINVAL, "spec.apiServer.service.type must be LoadBalancer, NodePort or ClusterIP");
  if (fed_int_in(spec, "apiServer.service.nodePort", 0, 0, 65535, &s->node_port) != 0)
    return kf_error_set(err, -EINVAL, "spec.apiServer.service.nodePort must be an integer between 0 and 65535");
  s->service_annotations = kc_obj_get(spec, "apiServer.service.annotations");
  if (!fed_is_map_of_strings(s->service_annotations))
    return kf_error_set(err, -EINVAL, "spec.apiServer.service.annotations must map names to strings");
  s->load_balancer_class = fed_str_or(spec, "apiServer.service.loadBalancerClass", NULL);
  s->load_balancer_source_ranges = kc_obj_get(spec, "apiServer.service.loadBalancerSourceRanges");
  if (!fed_is_array_of_strings(s->load_balancer_source_ranges))
    return kf_error_set(err, -EINVAL, "spec.apiServer.service.loadBalancerSourceRanges must be a list of strings");
  s->advertise_address = fed_str_or(spec, "apiServer.advertiseAddress", NULL);
  s->cert_sans = kc_obj_get(spec, "apiServer.certSANs");
  if (!fed_is_array_of_strings(s->cert_sans))
    return kf_error_set(err, -EINVAL, "spec.apiServer.certSANs must be a list of strings");
  s->api_extra_args = kc_obj_get(spec, "apiServer.extraArgs");
  if (!fed_is_map_of_strings(s->api_extra_args))
    return kf_error_set(err, -EINVAL, "spec.apiServer.extraArgs must map flag names to strings");
  s->token_secret = fed_str_or(spec, "apiServer.tokenAuthSecretRef.name", NULL);
  s->token_key = fed_str_or(spec, "apiServer.tokenAuthSecretRef.key", "token.csv");

  s->cm_pod = kc_obj_get(spec, "controllerManager");
  s->cm_image = fed_str_or(spec, "controllerManager.image", NULL); /* the reconcile adds the default */
  if (fed_int_in(spec, "controllerManager.replicas", 1, 0, 9, &s->cm_replicas) != 0)
    return kf_error_set(err, -EINVAL, "spec.controllerManager.replicas must be an integer from 0 to 9");
  s->cm_extra_args = kc_obj_get(spec, "controllerManager.extraArgs");
  if (!fed_is_map_of_strings(s->cm_extra_args))
    return kf_error_set(err, -EINVAL, "spec.controllerManager.extraArgs must map flag names to strings");

  json_object *external = kc_obj_get(spec, "etcd.external");
  s->etcd_local = external == NULL;
  if (external && kc_obj_get(spec, "etcd.local"))
    return kf_error_set(err, -EINVAL, "spec.etcd must set exactly one of spec.etcd.local or spec.etcd.external");
  s->etcd_image = fed_str_or(spec, "etcd.local.image", FED_DEFAULT_ETCD_IMAGE);
  s->etcd_resources = kc_obj_get(spec, "etcd.local.resources");
  s->etcd_emptydir = strcmp(fed_str_or(spec, "etcd.local.storage.type", "PersistentVolumeClaim"), "EmptyDir") == 0;
  s->etcd_size = fed_str_or(spec, "etcd.local.storage.size", "10Gi");
  s->etcd_storage_class = fed_str_or(spec, "etcd.local.storage.storageClassName", NULL);
  s->etcd_existing_claim = fed_str_or(spec, "etcd.local.storage.existingClaim", NULL);
  s->etcd_retain = fed_bool_or(spec, "etcd.local.storage.retainOnDelete", 1);
  s->etcd_endpoints = kc_obj_get(spec, "etcd.external.endpoints");
  if (!fed_is_array_of_strings(s->etcd_endpoints))
    return kf_error_set(err, -EINVAL, "spec.etcd.external.endpoints must be a list of strings");
  s->etcd_tls_secret = fed_str_or(spec, "etcd.external.tlsSecretRef.name", NULL);
  if (external && (!s->etcd_endpoints || json_object_array_length(s->etcd_endpoints) == 0 || !s->etcd_tls_secret))
    return kf_error_set(err, -EINVAL, "spec.etcd.external needs endpoints and tlsSecretRef");
  if (s->etcd_local && s->api_replicas != 1)
    return kf_error_set(err, -EINVAL, "spec.apiServer.replicas must be 1 with spec.etcd.local");

  s->ca_secret = fed_str_or(spec, "certificates.caSecretRef.name", NULL);
  if (fed_parse_duration(fed_str_or(spec, "certificates.validity", "8760h"), &s->validity_s) != 0 || s->validity_s < 60)
    return kf_error_set(err, -EINVAL, "spec.certificates.validity must be a duration of at least 1m, e.g. 8760h");
  if (fed_parse_duration(fed_str_or(spec, "certificates.renewBefore", "720h"), &s->renew_before_s) != 0)
    return kf_error_set(err, -EINVAL, "spec.certificates.renewBefore must be a duration, e.g. 720h");
  s->pull_policy = fed_str_or(spec, "imagePullPolicy", "IfNotPresent");
  s->pull_secrets = kc_obj_get(spec, "imagePullSecrets");
  if (s->pull_secrets && !json_object_is_type(s->pull_secrets, json_type_array))
    return kf_error_set(err, -EINVAL, "spec.imagePullSecrets must be a list of {name: ...}");
  s->suspend = fed_bool_or(spec, "suspend", 0);
  return 0;
}

/* ---- names and addresses ---- */

char *fed_child_name(const fed_spec *s, const char *suffix) { return kf_asprintf("%s-%s", s->name, suffix); }

char *fed_etcd_claim_name(const fed_spec *s) {
  if (!s->etcd_local || s->etcd_emptydir) return NULL;
  return s->etcd_existing_claim ? kf_strdup(s->etcd_existing_claim) : fed_child_name(s, "apiserver-etcd-claim");
}

int fed_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int fed_is_ip(const char *s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

char *fed_service_url(const fed_spec *s) { return kf_asprintf("https://%s-apiserver.%s.svc:443", s->name, s->ns); }

static void fed_strv_add(char ***v, size_t *n, const char *str) {
  for (size_t i = 0; i < *n; i++)
    if (strcmp((*v)[i], str) == 0) return;
  *v = realloc(*v, (*n + 2) * sizeof(char *));
  if (!*v) abort();
  (*v)[(*n)++] = kf_strdup(str);
  (*v)[*n] = NULL;
}

void fed_strv_free(char **v) {
  for (size_t i = 0; v && v[i]; i++) free(v[i]);
  free(v);
}

static void fed_san_add(char ***dns, size_t *nd, char ***ips, size_t *ni, const char *name) {
  if (!name || !name[0]) return;
  if (fed_is_ip(name)) fed_strv_add(ips, ni, name);
  else fed_strv_add(dns, nd, name);
}

void fed_serving_sans(const fed_spec *s, json_object *lb_ingress, char ***dns_names, char ***ips) {
  char **dns = kf_calloc(1, sizeof(char *)), **ip = kf_calloc(1, sizeof(char *));
  size_t nd = 0, ni = 0;
  char *svc = fed_child_name(s, "apiserver");
  char *names[4] = {kf_strdup(svc), kf_asprintf("%s.%s", svc, s->ns), kf_asprintf("%s.%s.svc", svc, s->ns),
                    kf_asprintf("%s.%s.svc.cluster.local", svc, s->ns)};
  for (int i = 0; i < 4; i++) {
    fed_strv_add(&dns, &nd, names[i]);
    free(names[i]);
  }
  free(svc);
  fed_san_add(&dns, &nd, &ip, &ni, s->advertise_address);
  for (size_t i = 0; s->cert_sans && i < json_object_array_length(s->cert_sans); i++)
    fed_san_add(&dns, &nd, &ip, &ni, json_object_get_string(json_object_array_get_idx(s->cert_sans, i)));
  if (!json_object_is_type(lb_ingress, json_type_array)) lb_ingress = NULL; /* json-c aborts on another type */
  for (size_t i = 0; lb_ingress && i < json_object_array_length(lb_ingress); i++) {
    json_object *in = json_object_array_get_idx(lb_ingress, i);
    fed_san_add(&dns, &nd, &ip, &ni, kc_obj_str(in, "ip"));
    fed_san_add(&dns, &nd, &ip, &ni, kc_obj_str(in, "hostname"));
  }
  *dns_names = dns;
  *ips = ip;
}

static char *fed_url(const char *host, int64_t port) {
  return strchr(host, ':') ? kf_asprintf("https://[%s]:%lld", host, (long long)port)
                           : kf_asprintf("https://%s:%lld", host, (long long)port);
}

/* The first element of an array, NULL for anything else (json-c aborts on a non-array). */
static json_object *fed_first(json_object *arr) {
  return json_object_is_type(arr, json_type_array) && json_object_array_length(arr) > 0
             ? json_object_array_get_idx(arr, 0)
             : NULL;
}

char *fed_endpoint(const fed_spec *s, json_object *service, const char **pending_reason) {
  *pending_reason = NULL;
  if (s->service_type == FED_SVC_NODEPORT && s->advertise_address) {
    json_object *port = kc_obj_get(fed_first(kc_obj_get(service, "spec.ports")), "nodePort");
    if (!port || !json_object_is_type(port, json_type_int)) {
      *pending_reason = "waiting for the Service's node port";
      return NULL;
    }
    return fed_url(s->advertise_address, json_object_get_int64(port));
  }
  if (s->service_type == FED_SVC_LOADBALANCER) {
    json_object *first = fed_first(kc_obj_get(service, "status.loadBalancer.ingress"));
    const char *host = first ? fed_str_or(first, "ip", kc_obj_str(first, "hostname")) : NULL;
    if (!host) {
      *pending_reason = "waiting for the load balancer's address (Service status.loadBalancer.ingress)";
      return NULL;
    }
    return fed_url(host, 443);
  }
  /* ClusterIP, or NodePort without an address to advertise: reachable inside the host cluster. */
  return fed_service_url(s);
}
