/* fed objects: the host children other than the Deployments, as pure functions (objects.h).
 *
 * Metadata (our labels, kubefed v1's annotation, the ownerReference), the Secrets with the
 * federation's credentials and kubeconfigs, the Service and the etcd claim. (The controller
 * manager has no host RBAC: it needs nothing on the host, see deployments.c.) */
#include "objects.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kf/b64.h>
#include <kf/kc.h>
#include <kf/kj.h>

#include "federation_internal.h"

/* ---- metadata ---- */

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

json_object *fed_object(const fed_spec *s, const char *api_version, const char *kind, const char *name, int owned) {
  json_object *o = kj_obj();
  kj_str(o, "apiVersion", api_version);
  kj_str(o, "kind", kind);
  kj_set(o, "metadata", fed_meta(s, name, owned));
  return o;
}

/* ---- secrets and kubeconfigs ---- */

char *fed_kubeconfig(const char *cluster, const char *user, const char *context, const char *server, const char *ca_pem,
                     const char *cert_pem, const char *key_pem, const char *token) {
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
    json_object_object_foreach (annotations, k, v) kj_str(meta_ann, k, json_object_get_string(v));
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
    json_object_object_foreach (data, k, v) {
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

static void fed_b64_put(json_object *data, const char *key, const char *value) {
  char *b = kf_b64_encode(value, strlen(value));
  kj_str(data, key, b);
  kf_free_secret(b, strlen(b));
}

void fed_desired_credential_secrets(const fed_spec *s, const fed_credential_inputs *in, fed_credential_secrets *out) {
  json_object *data, *ann = NULL;
  char *name;
  memset(out, 0, sizeof(*out));

  /* F-apiserver-credentials, with kubefed v1's keys. Type Opaque, not kubernetes.io/tls: that
   * type requires the keys tls.crt and tls.key, and kubefed v1's consumers (and users' scripts)
   * read ca.crt, server.crt and server.key; adding tls.* copies would put the serving key in the
   * Secret twice for a type label. The CA Secret (tls.crt, tls.key) is kubernetes.io/tls, the
   * member token Secret kubernetes.io/service-account-token; kubeconfigs have no Secret type of
   * their own (Opaque). security.secrets checks each type and that every key is used. */
  data = kj_obj();
  fed_b64_put(data, "ca.crt", in->ca_cert);
  fed_b64_put(data, "server.crt", in->server_cert);
  fed_b64_put(data, "server.key", in->server_key);
  fed_b64_put(data, "sa.key", in->sa_key);
  fed_b64_put(data, "sa.pub", in->sa_pub);
  if (in->token_csv) kj_str(data, "token.csv", in->token_csv);
  /* Which rotate request these certificates answer: a new value of the annotation asks again. */
  if (s->rotate_request) ann = kj_str(kj_obj(), API_ANNOTATION_ROTATED_FOR, s->rotate_request);
  name = fed_child_name(s, "apiserver-credentials");
  out->apiserver = fed_desired_secret(s, name, "Opaque", data, ann);
  /* The pods roll when what they mount changes: hash what we apply, not a cache that may lag. */
  out->apiserver_hash = fed_data_hash(data);
  free(name);
  kj_put_wiped(data);
  if (ann) json_object_put(ann);

  /* The controller manager reaches its API server by the Service's short name, in-cluster. */
  char *cluster_url = kf_asprintf("https://%s-apiserver", s->name);
  char *cm_context = kf_asprintf("federation-controller-manager@%s", s->name);
  char *kc = fed_kubeconfig(s->name, "federation-controller-manager", cm_context, cluster_url, in->ca_cert, in->cm_cert,
                            in->cm_key, NULL);
  data = kj_obj();
  fed_b64_put(data, "kubeconfig", kc);
  kf_free_secret(kc, strlen(kc));
  name = fed_child_name(s, "controller-manager-kubeconfig");
  out->cm_kubeconfig = fed_desired_secret(s, name, "Opaque", data, NULL);
  out->cm_hash = fed_data_hash(data);
  free(name);
  kj_put_wiped(data);
  free(cluster_url);
  free(cm_context);

  char *svc = fed_service_url(s);
  out->admin_kubeconfig_text = fed_kubeconfig(s->name, s->name, s->name, in->endpoint ? in->endpoint : svc, in->ca_cert,
                                              in->admin_cert, in->admin_key, NULL);
  free(svc);
  data = kj_obj();
  fed_b64_put(data, "kubeconfig", out->admin_kubeconfig_text);
  name = fed_child_name(s, "admin-kubeconfig");
  out->admin_kubeconfig = fed_desired_secret(s, name, "Opaque", data, NULL);
  free(name);
  kj_put_wiped(data);

  if (in->dns_config) {
    data = kj_str(kj_obj(), FED_DNS_KEY, in->dns_config);
    name = fed_child_name(s, "dns-provider");
    out->dns_provider = fed_desired_secret(s, name, "Opaque", data, NULL);
    free(name);
    kj_put_wiped(data);
  }
}

void fed_credential_secrets_free(fed_credential_secrets *cs) {
  kj_put_wiped(cs->apiserver);
  kj_put_wiped(cs->cm_kubeconfig);
  kj_put_wiped(cs->admin_kubeconfig);
  kj_put_wiped(cs->dns_provider);
  free(cs->apiserver_hash);
  free(cs->cm_hash);
  if (cs->admin_kubeconfig_text) kf_free_secret(cs->admin_kubeconfig_text, strlen(cs->admin_kubeconfig_text));
  memset(cs, 0, sizeof(*cs));
}

/* ---- service, storage ---- */

json_object *fed_selector(const fed_spec *s, const char *module) {
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
    json_object_object_foreach (s->service_annotations, k, v) kj_str(ann, k, json_object_get_string(v));
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
  if (s->service_type == FED_SVC_LOADBALANCER && s->load_balancer_source_ranges &&
      json_object_array_length(s->load_balancer_source_ranges) > 0)
    kj_copy(spec, "loadBalancerSourceRanges", s->load_balancer_source_ranges);
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
