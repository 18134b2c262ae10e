#include "objects.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include <kf/b64.h>
#include <kf/kc.h>
#include <kf/kj.h>

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
  json_object_object_foreach(v, k, val) {
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
    return kf_error_set(err, -EINVAL, "spec.dns.provider must be coredns, google-clouddns, aws-route53 or azure-azuredns");
  if (!s->zone_name || strlen(s->zone_name) < 2 || s->zone_name[strlen(s->zone_name) - 1] != '.')
    return kf_error_set(err, -EINVAL, "spec.dns.zoneName must be fully qualified and end with a dot, e.g. example.com.");
  s->dns_config_secret = fed_str_or(spec, "dns.providerConfigSecretRef.name", NULL);
  s->dns_config_key = fed_str_or(spec, "dns.providerConfigSecretRef.key", "provider.conf");
  s->coredns_nameservers = kc_obj_get(spec, "dns.corednsNameservers");
  if (!fed_is_array_of_strings(s->coredns_nameservers))
    return kf_error_set(err, -EINVAL, "spec.dns.corednsNameservers must be a list of strings");
  if (strcmp(s->dns_provider, "coredns") == 0 &&
      (!s->coredns_nameservers || json_object_array_length(s->coredns_nameservers) == 0))
    return kf_error_set(err, -EINVAL, "spec.dns.corednsNameservers is required with the coredns provider");

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
  s->cm_image = fed_str_or(spec, "controllerManager.image", FED_DEFAULT_CM_IMAGE);
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
  if (fed_parse_duration(fed_str_or(spec, "certificates.validity", "8760h"), &s->validity_s) != 0 ||
      s->validity_s < 60)
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

/* ---- names, labels, addresses ---- */

char *fed_child_name(const fed_spec *s, const char *suffix) { return kf_asprintf("%s-%s", s->name, suffix); }

char *fed_etcd_claim_name(const fed_spec *s) {
  if (!s->etcd_local || s->etcd_emptydir) return NULL;
  return s->etcd_existing_claim ? kf_strdup(s->etcd_existing_claim) : fed_child_name(s, "apiserver-etcd-claim");
}

static json_object *fed_labels(const fed_spec *s) {
  json_object *l = kj_obj();
  kj_str(l, API_LABEL_MANAGED_BY, API_OPERATOR);
  kj_str(l, API_LABEL_FEDERATION, s->name);
  return l;
}

json_object *fed_meta(const fed_spec *s, const char *name, int owned) {
  json_object *m = kj_obj();
  kj_str(m, "name", name);
  kj_str(m, "namespace", s->ns);
  kj_set(m, "labels", fed_labels(s));
  kj_set(m, "annotations", kj_str(kj_obj(), API_ANNOTATION_FEDERATION_NAME, s->name));
  if (owned) {
    json_object *o = kj_obj();
    kj_str(o, "apiVersion", API_GROUP_VERSION);
    kj_str(o, "kind", "Federation");
    kj_str(o, "name", s->name);
    kj_str(o, "uid", s->uid);
    kj_bool(o, "controller", 1);
    kj_bool(o, "blockOwnerDeletion", 1);
    kj_set(m, "ownerReferences", kj_push(kj_arr(), o));
  }
  return m;
}

static json_object *fed_object(const fed_spec *s, const char *api_version, const char *kind, const char *name,
                               int owned) {
  json_object *o = kj_obj();
  kj_str(o, "apiVersion", api_version);
  kj_str(o, "kind", kind);
  kj_set(o, "metadata", fed_meta(s, name, owned));
  return o;
}

static int fed_is_ip(const char *s) {
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
  if (!json_object_is_type(lb_ingress, json_type_array)) lb_ingress = NULL;  /* json-c aborts on another type */
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

/* ---- secrets and kubeconfigs ---- */

static int fed_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char *fed_kubeconfig(const char *cluster, const char *user, const char *context, const char *server,
                     const char *ca_pem, const char *cert_pem, const char *key_pem, const char *token) {
  char *ca = ca_pem ? kf_b64_encode(ca_pem, strlen(ca_pem)) : NULL;
  char *ca_line = ca ? kf_asprintf("    certificate-authority-data: %s\n", ca) : kf_strdup("");
  char *credentials;
  if (token) {
    credentials = kf_asprintf("    token: \"%s\"\n", token);
  } else {
    char *crt = kf_b64_encode(cert_pem, strlen(cert_pem));
    char *key = kf_b64_encode(key_pem, strlen(key_pem));
    credentials = kf_asprintf("    client-certificate-data: %s\n    client-key-data: %s\n", crt, key);
    free(crt);
    kf_free_secret(key, strlen(key));
  }
  char *out = kf_asprintf("apiVersion: v1\n"
                          "kind: Config\n"
                          "clusters:\n"
                          "- name: %s\n"
                          "  cluster:\n"
                          "    server: \"%s\"\n"
                          "%s"
                          "users:\n"
                          "- name: %s\n"
                          "  user:\n"
                          "%s"
                          "contexts:\n"
                          "- name: %s\n"
                          "  context:\n"
                          "    cluster: %s\n"
                          "    user: %s\n"
                          "current-context: %s\n",
                          cluster, server, ca_line, user, credentials, context, cluster, user, context);
  free(ca);
  free(ca_line);
  kf_free_secret(credentials, strlen(credentials));
  return out;
}

json_object *fed_desired_secret(const fed_spec *s, const char *name, const char *type, json_object *data,
                                json_object *annotations) {
  json_object *o = fed_object(s, "v1", "Secret", name, 1);
  if (annotations) {
    json_object *meta_ann = kc_obj_get(o, "metadata.annotations");
    json_object_object_foreach(annotations, k, v) kj_str(meta_ann, k, json_object_get_string(v));
  }
  kj_str(o, "type", type);
  kj_copy(o, "data", data);
  return o;
}

char *fed_data_hash(json_object *data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  size_t n = data ? (size_t)json_object_object_length(data) : 0, i = 0;
  const char **keys = kf_calloc(n + 1, sizeof(char *));
  if (data) {
    json_object_object_foreach(data, k, v) {
      (void)v;
      keys[i++] = k;
    }
  }
  qsort(keys, n, sizeof(char *), fed_cmp_str);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  for (i = 0; i < n; i++) {
    const char *v = kc_obj_key_str(data, keys[i]);
    EVP_DigestUpdate(ctx, keys[i], strlen(keys[i]) + 1);
    if (v) EVP_DigestUpdate(ctx, v, strlen(v) + 1);
  }
  EVP_DigestFinal_ex(ctx, md, &mdlen);
  EVP_MD_CTX_free(ctx);
  free(keys);
  char *hex = kf_calloc(2 * mdlen + 1, 1);
  for (i = 0; i < mdlen; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return hex;
}

/* ---- service, storage, RBAC ---- */

static json_object *fed_selector(const fed_spec *s, const char *module) {
  json_object *sel = kj_obj();
  kj_str(sel, "app.kubernetes.io/name", module);
  kj_str(sel, API_LABEL_FEDERATION, s->name);
  return sel;
}

json_object *fed_desired_service(const fed_spec *s) {
  char *name = fed_child_name(s, "apiserver");
  json_object *o = fed_object(s, "v1", "Service", name, 1);
  free(name);
  if (s->service_annotations) {
    json_object *ann = kc_obj_get(o, "metadata.annotations");
    json_object_object_foreach(s->service_annotations, k, v) kj_str(ann, k, json_object_get_string(v));
  }
  json_object *spec = kj_obj(), *port = kj_obj();
  kj_str(spec, "type", s->service_type_name);
  kj_set(spec, "selector", fed_selector(s, "federation-apiserver"));
  kj_str(port, "name", "https");
  kj_str(port, "protocol", "TCP");
  kj_int(port, "port", 443);
  kj_str(port, "targetPort", "https");
  if (s->node_port > 0 && s->service_type != FED_SVC_CLUSTERIP) kj_int(port, "nodePort", s->node_port);
  kj_set(spec, "ports", kj_push(kj_arr(), port));
  if (s->load_balancer_class && s->service_type == FED_SVC_LOADBALANCER)
    kj_str(spec, "loadBalancerClass", s->load_balancer_class);
  kj_set(o, "spec", spec);
  return o;
}

json_object *fed_desired_pvc(const fed_spec *s) {
  if (!s->etcd_local || s->etcd_emptydir || s->etcd_existing_claim) return NULL;
  char *name = fed_child_name(s, "apiserver-etcd-claim");
  /* Retained claims carry no ownerReference: deleting the Federation must not delete its data. */
  json_object *o = fed_object(s, "v1", "PersistentVolumeClaim", name, !s->etcd_retain);
  free(name);
  json_object *spec = kj_obj();
  kj_set(spec, "accessModes", kj_push_str(kj_arr(), "ReadWriteOnce"));
  kj_set(spec, "resources", kj_set(kj_obj(), "requests", kj_str(kj_obj(), "storage", s->etcd_size)));
  if (s->etcd_storage_class) kj_str(spec, "storageClassName", s->etcd_storage_class);
  kj_set(o, "spec", spec);
  return o;
}

json_object *fed_desired_service_account(const fed_spec *s) {
  char *name = fed_child_name(s, "controller-manager");
  json_object *o = fed_object(s, "v1", "ServiceAccount", name, 1);
  free(name);
  return o;
}

json_object *fed_desired_role(const fed_spec *s) {
  char *name = fed_child_name(s, "controller-manager");
  json_object *o = fed_object(s, "rbac.authorization.k8s.io/v1", "Role", name, 1);
  free(name);
  /* The federation controller manager reads member credential Secrets, in this namespace only. */
  json_object *rule = kj_obj();
  kj_set(rule, "apiGroups", kj_push_str(kj_arr(), ""));
  kj_set(rule, "resources", kj_push_str(kj_arr(), "secrets"));
  kj_set(rule, "verbs", kj_push_str(kj_push_str(kj_push_str(kj_arr(), "get"), "list"), "watch"));
  kj_set(o, "rules", kj_push(kj_arr(), rule));
  return o;
}

json_object *fed_desired_role_binding(const fed_spec *s) {
  char *name = fed_child_name(s, "controller-manager");
  json_object *o = fed_object(s, "rbac.authorization.k8s.io/v1", "RoleBinding", name, 1);
  json_object *ref = kj_obj(), *subject = kj_obj();
  kj_str(ref, "apiGroup", "rbac.authorization.k8s.io");
  kj_str(ref, "kind", "Role");
  kj_str(ref, "name", name);
  kj_str(subject, "kind", "ServiceAccount");
  kj_str(subject, "name", name);
  kj_str(subject, "namespace", s->ns);
  kj_set(o, "roleRef", ref);
  kj_set(o, "subjects", kj_push(kj_arr(), subject));
  free(name);
  return o;
}

/* ---- deployments ---- */

/* args: a json object flag -> value. extra (the user's extraArgs) replaces or adds; the
 * result is sorted, as kubefed v1's argMapsToArgStrings did. */
static json_object *fed_render_args(json_object *args, json_object *extra) {
  if (extra) {
    json_object_object_foreach(extra, k, v) kj_str(args, k, json_object_get_string(v));
  }
  size_t n = (size_t)json_object_object_length(args), i = 0;
  char **flags = kf_calloc(n + 1, sizeof(char *));
  json_object_object_foreach(args, k, v) flags[i++] = kf_asprintf("--%s=%s", k, json_object_get_string(v));
  qsort(flags, n, sizeof(char *), fed_cmp_str);
  json_object *out = kj_arr();
  for (i = 0; i < n; i++) {
    kj_push_str(out, flags[i]);
    free(flags[i]);
  }
  free(flags);
  json_object_put(args);
  return out;
}

json_object *fed_apiserver_args(const fed_spec *s) {
  json_object *a = kj_obj();
  char *issuer = kf_asprintf("https://%s-apiserver.%s.svc", s->name, s->ns);
  kj_str(a, "authorization-mode", "RBAC");
  kj_str(a, "bind-address", "0.0.0.0");
  kj_str(a, "client-ca-file", FED_CREDENTIALS_DIR "/ca.crt");
  kj_str(a, "enable-admission-plugins", "NamespaceLifecycle");
  kj_str(a, "secure-port", "8443");
  kj_str(a, "service-account-issuer", issuer);
  kj_str(a, "service-account-key-file", FED_CREDENTIALS_DIR "/sa.pub");
  kj_str(a, "service-account-signing-key-file", FED_CREDENTIALS_DIR "/sa.key");
  kj_str(a, "service-cluster-ip-range", "10.0.0.0/24");
  kj_str(a, "tls-cert-file", FED_CREDENTIALS_DIR "/server.crt");
  kj_str(a, "tls-private-key-file", FED_CREDENTIALS_DIR "/server.key");
  free(issuer);
  if (s->advertise_address && fed_is_ip(s->advertise_address)) kj_str(a, "advertise-address", s->advertise_address);
  if (s->token_secret) kj_str(a, "token-auth-file", FED_CREDENTIALS_DIR "/token.csv");
  if (s->etcd_local) {
    kj_str(a, "etcd-servers", "http://127.0.0.1:2379");
  } else {
    char *servers = kj_join(s->etcd_endpoints, ",");
    kj_str(a, "etcd-servers", servers);
    free(servers);
    kj_str(a, "etcd-cafile", FED_ETCD_CLIENT_DIR "/ca.crt");
    kj_str(a, "etcd-certfile", FED_ETCD_CLIENT_DIR "/tls.crt");
    kj_str(a, "etcd-keyfile", FED_ETCD_CLIENT_DIR "/tls.key");
    /* An external etcd may serve several federations: keep each under its own prefix. */
    char *prefix = kf_asprintf("/kubefed/%s/%s", s->ns, s->name);
    kj_str(a, "etcd-prefix", prefix);
    free(prefix);
  }
  return fed_render_args(a, s->api_extra_args);
}

json_object *fed_controller_manager_args(const fed_spec *s) {
  json_object *a = kj_obj();
  char *master = kf_asprintf("https://%s-apiserver", s->name);
  kj_str(a, "dns-provider", s->dns_provider);
  kj_str(a, "federation-name", s->name);
  kj_str(a, "kubeconfig", FED_CM_KUBECONFIG_DIR "/kubeconfig");
  kj_str(a, "master", master);
  kj_str(a, "zone-name", s->zone_name);
  if (s->dns_config_secret) kj_str(a, "dns-provider-config", FED_DNS_DIR "/" FED_DNS_KEY);
  free(master);
  return fed_render_args(a, s->cm_extra_args);
}

static json_object *fed_volume_mount(const char *name, const char *path) {
  json_object *m = kj_obj();
  kj_str(m, "name", name);
  kj_str(m, "mountPath", path);
  kj_bool(m, "readOnly", 1);
  return m;
}

static json_object *fed_secret_volume(const char *name, const char *secret) {
  json_object *v = kj_obj(), *sv = kj_obj();
  kj_str(sv, "secretName", secret);
  kj_int(sv, "defaultMode", 0400);
  kj_str(v, "name", name);
  kj_set(v, "secret", sv);
  return v;
}

static json_object *fed_probe(const char *path, int initial_delay, int failures) {
  json_object *p = kj_obj(), *get = kj_obj();
  kj_str(get, "path", path);
  kj_int(get, "port", FED_APISERVER_PORT);
  kj_str(get, "scheme", "HTTPS");
  kj_set(p, "httpGet", get);
  if (initial_delay > 0) kj_int(p, "initialDelaySeconds", initial_delay);  /* 0 is omitted by the server */
  kj_int(p, "periodSeconds", 10);
  kj_int(p, "timeoutSeconds", 5);
  kj_int(p, "failureThreshold", failures);
  return p;
}

static json_object *fed_container(const char *name, const char *image, const char *pull_policy) {
  json_object *c = kj_obj(), *sc = kj_obj();
  kj_str(c, "name", name);
  kj_str(c, "image", image);
  kj_str(c, "imagePullPolicy", pull_policy);
  kj_bool(sc, "allowPrivilegeEscalation", 0);
  kj_set(sc, "seccompProfile", kj_str(kj_obj(), "type", "RuntimeDefault"));
  kj_set(c, "securityContext", sc);
  return c;
}

/* A Deployment around pod_spec; scheduling fields come from the spec section `pod`. */
static json_object *fed_deployment(const fed_spec *s, const char *suffix, const char *module, int replicas,
                                   int recreate, json_object *pod_spec, json_object *pod, const char *config_hash,
                                   json_object *annotations) {
  char *name = fed_child_name(s, suffix);
  json_object *o = fed_object(s, "apps/v1", "Deployment", name, 1);
  free(name);
  kj_str(kc_obj_get(o, "metadata.labels"), "app", "federated-cluster");
  if (annotations) {
    json_object *ann = kc_obj_get(o, "metadata.annotations");
    json_object_object_foreach(annotations, k, v) kj_str(ann, k, json_object_get_string(v));
    json_object_put(annotations);
  }
  json_object *spec = kj_obj(), *tmpl = kj_obj(), *tmeta = kj_obj(), *labels = fed_selector(s, module);
  kj_int(spec, "replicas", replicas);
  kj_set(spec, "selector", kj_set(kj_obj(), "matchLabels", fed_selector(s, module)));
  if (recreate) kj_set(spec, "strategy", kj_str(kj_obj(), "type", "Recreate"));
  kj_str(labels, "app", "federated-cluster");
  kj_str(labels, "module", module);
  kj_set(tmeta, "labels", labels);
  json_object *tann = kj_obj();
  kj_str(tann, API_ANNOTATION_FEDERATION_NAME, s->name);
  kj_str(tann, API_ANNOTATION_CONFIG_HASH, config_hash);
  kj_set(tmeta, "annotations", tann);
  kj_set(tmpl, "metadata", tmeta);
  kj_copy(pod_spec, "nodeSelector", kc_obj_get(pod, "nodeSelector"));
  kj_copy(pod_spec, "tolerations", kc_obj_get(pod, "tolerations"));
  kj_copy(pod_spec, "affinity", kc_obj_get(pod, "affinity"));
  kj_str(pod_spec, "priorityClassName", kc_obj_str(pod, "priorityClassName"));
  kj_copy(pod_spec, "imagePullSecrets", s->pull_secrets);
  kj_set(tmpl, "spec", pod_spec);
  kj_set(spec, "template", tmpl);
  kj_set(o, "spec", spec);
  return o;
}

json_object *fed_desired_apiserver(const fed_spec *s, const char *config_hash) {
  json_object *pod_spec = kj_obj(), *containers = kj_arr(), *volumes = kj_arr();
  char *cred = fed_child_name(s, "apiserver-credentials");

  json_object *api = fed_container("apiserver", s->api_image, s->pull_policy);
  kj_set(api, "command", kj_push_str(kj_arr(), "kube-apiserver"));
  kj_set(api, "args", fed_apiserver_args(s));
  json_object *port = kj_obj();
  kj_str(port, "name", "https");
  kj_int(port, "containerPort", FED_APISERVER_PORT);
  kj_str(port, "protocol", "TCP");
  kj_set(api, "ports", kj_push(kj_arr(), port));
  json_object *mounts = kj_push(kj_arr(), fed_volume_mount("apiserver-credentials", FED_CREDENTIALS_DIR));
  kj_push(volumes, fed_secret_volume("apiserver-credentials", cred));
  if (!s->etcd_local) {
    kj_push(mounts, fed_volume_mount("etcd-client", FED_ETCD_CLIENT_DIR));
    kj_push(volumes, fed_secret_volume("etcd-client", s->etcd_tls_secret));
  }
  kj_set(api, "volumeMounts", mounts);
  kj_set(api, "readinessProbe", fed_probe("/readyz", 0, 3));
  kj_set(api, "livenessProbe", fed_probe("/livez", 15, 8));
  kj_copy(api, "resources", kc_obj_get(s->api_pod, "resources"));
  kj_push(containers, api);

  if (s->etcd_local) {
    json_object *etcd = fed_container("etcd", s->etcd_image, s->pull_policy);
    json_object *args = kj_arr();
    char *a[] = {kf_asprintf("--name=%s", s->name), kf_strdup("--data-dir=/var/etcd/data"),
                 kf_strdup("--listen-client-urls=http://127.0.0.1:2379"),
                 kf_strdup("--advertise-client-urls=http://127.0.0.1:2379"),
                 kf_strdup("--listen-peer-urls=http://127.0.0.1:2380"),
                 kf_strdup("--initial-advertise-peer-urls=http://127.0.0.1:2380"),
                 kf_asprintf("--initial-cluster=%s=http://127.0.0.1:2380", s->name)};
    for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
      kj_push_str(args, a[i]);
      free(a[i]);
    }
    kj_set(etcd, "command", kj_push_str(kj_arr(), "etcd"));
    kj_set(etcd, "args", args);
    json_object *m = kj_obj();
    kj_str(m, "name", "etcddata");
    kj_str(m, "mountPath", "/var/etcd");
    kj_set(etcd, "volumeMounts", kj_push(kj_arr(), m));
    kj_push(containers, etcd);
    json_object *vol = kj_obj();
    kj_str(vol, "name", "etcddata");
    if (s->etcd_emptydir) {
      kj_set(vol, "emptyDir", kj_str(kj_obj(), "sizeLimit", s->etcd_size));
    } else {
      char *claim = fed_etcd_claim_name(s);
      kj_set(vol, "persistentVolumeClaim", kj_str(kj_obj(), "claimName", claim));
      free(claim);
    }
    kj_push(volumes, vol);
  }
  free(cred);
  kj_set(pod_spec, "containers", containers);
  kj_set(pod_spec, "volumes", volumes);
  /* The federation apiserver never talks to the host cluster's API. */
  kj_bool(pod_spec, "automountServiceAccountToken", 0);
  return fed_deployment(s, "apiserver", "federation-apiserver", s->api_replicas, s->etcd_local, pod_spec,
                        s->api_pod, config_hash, NULL);
}

static char *fed_zone_without_dot(const fed_spec *s) {
  char *z = kf_strdup(s->zone_name);
  size_t n = strlen(z);
  while (n > 0 && z[n - 1] == '.') z[--n] = '\0';
  return z;
}

json_object *fed_desired_controller_manager(const fed_spec *s, const char *config_hash) {
  json_object *pod_spec = kj_obj(), *volumes = kj_arr();
  char *sa = fed_child_name(s, "controller-manager");
  char *kubeconfig = fed_child_name(s, "controller-manager-kubeconfig");
  json_object *cm = fed_container("controller-manager", s->cm_image, s->pull_policy);
  kj_set(cm, "command", kj_push_str(kj_push_str(kj_arr(), "/fcp"), "federation-controller-manager"));
  kj_set(cm, "args", fed_controller_manager_args(s));
  json_object *env = kj_obj();
  kj_str(env, "name", "POD_NAMESPACE");
  kj_set(env, "valueFrom", kj_set(kj_obj(), "fieldRef", kj_str(kj_obj(), "fieldPath", "metadata.namespace")));
  kj_set(cm, "env", kj_push(kj_arr(), env));
  json_object *mounts = kj_push(kj_arr(), fed_volume_mount("kubeconfig", FED_CM_KUBECONFIG_DIR));
  kj_push(volumes, fed_secret_volume("kubeconfig", kubeconfig));
  if (s->dns_config_secret) {
    char *dns = fed_child_name(s, "dns-provider");
    kj_push(mounts, fed_volume_mount("config-volume", FED_DNS_DIR));
    kj_push(volumes, fed_secret_volume("config-volume", dns));
    free(dns);
  }
  kj_set(cm, "volumeMounts", mounts);
  kj_copy(cm, "resources", kc_obj_get(s->cm_pod, "resources"));
  kj_set(pod_spec, "containers", kj_push(kj_arr(), cm));
  kj_set(pod_spec, "volumes", volumes);
  kj_str(pod_spec, "serviceAccountName", sa);
  free(sa);
  free(kubeconfig);

  /* kubefed v1's annotations: join read `federations` to configure the members' DNS. */
  json_object *ann = kj_obj();
  char *zone = fed_zone_without_dot(s);
  char *federations = kf_asprintf("%s=%s", s->name, zone);
  kj_str(ann, "federations", federations);
  if (strcmp(s->dns_provider, "coredns") == 0) {
    char *ns = kj_join(s->coredns_nameservers, ",");
    kj_str(ann, "dns-provider", "coredns");
    kj_str(ann, "dns-zone-name", zone);
    kj_str(ann, "nameserver", ns);
    free(ns);
  }
  free(federations);
  free(zone);
  return fed_deployment(s, "controller-manager", "federation-controller-manager", s->cm_replicas, 0, pod_spec,
                        s->cm_pod, config_hash, ann);
}
