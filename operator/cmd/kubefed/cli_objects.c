/* kubefed's objects: what `kubefed init` and `kubefed join` apply, built from the parsed flags
 * (cli_flags.c), and their printing for --dry-run with every Secret value redacted. */
#include "cli_flags.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kf/b64.h>
#include <kf/kc.h>
#include <kf/kj.h>

#include "clusterdns/clusterdns.h"
#include "cli_kubeconfig.h"
#include "cli_yaml.h"

static json_object *cf_meta(const char *name, const char *ns, const char *federation) {
  json_object *labels = kj_str(kj_obj(), API_LABEL_MANAGED_BY, API_CLI);
  if (federation) kj_str(labels, API_LABEL_FEDERATION, federation);
  return kj_set(kj_str(kj_str(kj_obj(), "name", name), "namespace", ns), "labels", labels);
}

static json_object *cf_object(const char *api_version, const char *kind, json_object *meta) {
  return kj_set(kj_str(kj_str(kj_obj(), "apiVersion", api_version), "kind", kind), "metadata", meta);
}

/* Sets key to val when val is a non-empty object or array, else drops val. */
static void cf_set_nonempty(json_object *obj, const char *key, json_object *val) {
  int n = json_object_is_type(val, json_type_array) ? (int)json_object_array_length(val)
                                                    : json_object_object_length(val);
  if (n > 0) kj_set(obj, key, val);
  else json_object_put(val);
}

int cli_init_objects(const cli_opts *o, json_object **objs, kf_error *err) {
  json_object *out = kj_arr(), *dns = kj_obj(), *nameservers = NULL;
  int coredns = strcmp(o->dns_provider, "coredns") == 0;
  *objs = NULL;
  kj_str(dns, "provider", o->dns_provider);
  kj_str(dns, "zoneName", o->dns_zone);
  if (o->dns_provider_config) {
    char *conf;
    size_t len;
    int rc = cli_read_file(o->dns_provider_config, 512 * 1024, &conf, &len, err);
    if (rc != 0) {
      char msg[sizeof(err->msg)];
      snprintf(msg, sizeof(msg), "%s", err->msg);
      kf_error_set(err, rc, "--dns-provider-config: %s", msg);
      json_object_put(out);
      json_object_put(dns);
      return rc;
    }
    char *name = kf_asprintf("%s-dns-provider-config", o->name);
    char *b64 = kf_b64_encode(conf, len);
    json_object *secret = cf_object("v1", "Secret", cf_meta(name, o->namespace_, o->name));
    kj_str(secret, "type", "Opaque");
    kj_set(secret, "data", kj_str(kj_obj(), CLI_DNS_CONFIG_KEY, b64));
    kj_push(out, secret);
    kj_set(dns, "providerConfigSecretRef", kj_str(kj_str(kj_obj(), "name", name), "key", CLI_DNS_CONFIG_KEY));
    if (coredns && !o->coredns_nameservers) {
      nameservers = cli_coredns_endpoints(conf, len);
      for (size_t i = 0; nameservers && i < json_object_array_length(nameservers); i++)
        if (!cli_nameserver_ok(json_object_get_string(json_object_array_get_idx(nameservers, i)))) {
          json_object_put(nameservers);
          nameservers = NULL;
          kf_error_set(err, -EINVAL,
                       "--dns-provider-config %s: coredns-endpoints must be IP[:port] entries, none unspecified, "
                       "link-local or a loopback address on port 53 (a member's DNS would forward to itself)",
                       o->dns_provider_config);
          free(name);
          kf_free_secret(b64, strlen(b64));
          kf_free_secret(conf, len + 1);
          json_object_put(out);
          json_object_put(dns);
          return -EINVAL;
        }
    }
    free(name);
    kf_free_secret(b64, strlen(b64));
    kf_free_secret(conf, len + 1);
  }
  if (o->coredns_nameservers) nameservers = cli_list(o->coredns_nameservers);
  if (nameservers && json_object_array_length(nameservers) > DNS_MAX_NAMESERVERS) {
    json_object_put(nameservers);
    json_object_put(out);
    json_object_put(dns);
    return kf_error_set(err, -EINVAL, "--dns-provider-config %s: more than %d coredns-endpoints",
                        o->dns_provider_config ? o->dns_provider_config : "", DNS_MAX_NAMESERVERS);
  }
  /* None (a config without coredns-endpoints, as kubefed v1's documented one): no forward block. */
  if (nameservers) kj_set(dns, "corednsNameservers", nameservers);

  json_object *spec = kj_set(kj_obj(), "dns", dns);
  json_object *api = kj_obj(), *cm = kj_obj(), *svc = kj_obj();
  /* kubefed v1 ran both from one image; here the API server is kube-apiserver's own image, so
   * --image (an fcp/hyperkube image in old scripts) only names the controller manager's. */
  const char *api_image = o->apiserver_image;
  const char *cm_image = o->cm_image ? o->cm_image : o->image;
  if (api_image) kj_str(api, "image", api_image);
  if (o->service_type) kj_str(svc, "type", o->service_type);
  if (o->api_port > 0) kj_int(svc, "nodePort", o->api_port);
  cf_set_nonempty(api, "service", svc);
  if (o->advertise_address) kj_str(api, "advertiseAddress", o->advertise_address);
  if (o->apiserver_overrides) cf_set_nonempty(api, "extraArgs", cli_parse_overrides("", o->apiserver_overrides, err));
  if (o->token_auth_secret) kj_set(api, "tokenAuthSecretRef", kj_str(kj_obj(), "name", o->token_auth_secret));
  if (o->node_selector) {
    cf_set_nonempty(api, "nodeSelector", cli_parse_map("", o->node_selector, err));
    cf_set_nonempty(cm, "nodeSelector", cli_parse_map("", o->node_selector, err));
  }
  if (cm_image) kj_str(cm, "image", cm_image);
  if (o->cm_overrides) cf_set_nonempty(cm, "extraArgs", cli_parse_overrides("", o->cm_overrides, err));
  cf_set_nonempty(spec, "apiServer", api);
  cf_set_nonempty(spec, "controllerManager", cm);

  json_object *etcd = kj_obj();
  if (o->etcd_servers) {
    kj_set(etcd, "external",
           kj_set(kj_set(kj_obj(), "endpoints", cli_list(o->etcd_servers)), "tlsSecretRef",
                  kj_str(kj_obj(), "name", o->etcd_tls_secret)));
  } else {
    json_object *local = kj_obj(), *storage = kj_obj();
    if (o->etcd_image) kj_str(local, "image", o->etcd_image);
    /* kubefed v1's --etcd-persistent-storage=false kept no volume at all; an emptyDir is the
     * nearest declarative equivalent (the data lives as long as the pod). */
    if (o->etcd_persistent == 0) kj_str(storage, "type", "EmptyDir");
    if (o->etcd_pv_capacity) kj_str(storage, "size", o->etcd_pv_capacity);
    if (o->etcd_pv_storage_class) kj_str(storage, "storageClassName", o->etcd_pv_storage_class);
    if (json_object_object_length(storage) > 0 && !kc_obj_get(storage, "type"))
      kj_str(storage, "type", "PersistentVolumeClaim");
    cf_set_nonempty(local, "storage", storage);
    if (json_object_object_length(local) > 0) kj_set(etcd, "local", local);
    else json_object_put(local);
  }
  cf_set_nonempty(spec, "etcd", etcd);
  if (o->pull_policy) kj_str(spec, "imagePullPolicy", o->pull_policy);
  if (o->pull_secrets) {
    json_object *names = cli_list(o->pull_secrets), *l = kj_arr();
    for (size_t i = 0; i < json_object_array_length(names); i++)
      kj_push(l, kj_str(kj_obj(), "name", json_object_get_string(json_object_array_get_idx(names, i))));
    json_object_put(names);
    cf_set_nonempty(spec, "imagePullSecrets", l);
  }
  json_object *fed = cf_object(API_GROUP_VERSION, "Federation", cf_meta(o->name, o->namespace_, NULL));
  kj_set(fed, "spec", spec);
  kj_push(out, fed);
  *objs = out;
  return 0;
}

char *cli_join_secret_name(const char *cluster) { return kf_asprintf("%s-kubeconfig", cluster); }

int cli_join_objects(const cli_opts *o, const char *federation, json_object *kubeconfig, json_object **objs,
                     kf_error *err) {
  char *yaml = cli_yaml_emit(kubeconfig, err);
  *objs = NULL;
  if (!yaml) return err ? err->code : -EINVAL;
  char *b64 = kf_b64_encode(yaml, strlen(yaml));
  kf_free_secret(yaml, strlen(yaml));
  char *secret_name = cli_join_secret_name(o->name);
  json_object *secret = cf_object("v1", "Secret", cf_meta(secret_name, o->namespace_, federation));
  kj_str(secret, "type", "Opaque");
  kj_set(secret, "data", kj_str(kj_obj(), CLI_KUBECONFIG_KEY, b64));
  kf_free_secret(b64, strlen(b64));
  json_object *ref = kj_str(kj_str(kj_obj(), "name", secret_name), "key", CLI_KUBECONFIG_KEY);
  kj_str(ref, "context", o->cluster_context);
  json_object *spec = kj_set(kj_obj(), "federationRef", kj_str(kj_obj(), "name", federation));
  kj_set(spec, "kubeconfigSecretRef", ref);
  if (o->secret_name) kj_str(spec, "secretName", o->secret_name);
  json_object *fc = cf_object(API_GROUP_VERSION, "FederatedCluster", cf_meta(o->name, o->namespace_, federation));
  kj_set(fc, "spec", spec);
  free(secret_name);
  *objs = kj_push(kj_push(kj_arr(), secret), fc);
  return 0;
}

/* A copy of obj with every Secret value replaced by its size. */
static json_object *cf_redacted(json_object *obj) {
  json_object *copy = NULL;
  json_object_deep_copy(obj, &copy, NULL);
  const char *kind = kc_obj_str(copy, "kind");
  if (!kind || strcmp(kind, "Secret") != 0) return copy;
  const char *fields[] = {"data", "stringData"};
  for (int f = 0; f < 2; f++) {
    json_object *data = kc_obj_get(copy, fields[f]);
    if (!data || !json_object_is_type(data, json_type_object)) continue;
    json_object_object_foreach (data, k, v) {
      size_t n = (size_t)json_object_get_string_len(v);
      if (f == 0) {
        char *dec;
        size_t dn;
        if (kf_b64_decode(json_object_get_string(v), n, &dec, &dn) == 0) {
          n = dn;
          kf_free_secret(dec, dn + 1);
        }
      }
      char *r = kf_asprintf("<redacted: %zu bytes>", n);
      json_object_object_add(data, k, json_object_new_string(r));
      free(r);
    }
  }
  return copy;
}

int cli_print_objects(FILE *out, json_object *objs, const char *format, kf_error *err) {
  size_t n = json_object_array_length(objs);
  if (format && strcmp(format, "json") == 0) {
    json_object *list = kj_str(kj_str(kj_obj(), "apiVersion", "v1"), "kind", "List");
    json_object *items = kj_arr();
    for (size_t i = 0; i < n; i++) kj_push(items, cf_redacted(json_object_array_get_idx(objs, i)));
    kj_set(list, "items", items);
    fprintf(out, "%s\n",
            json_object_to_json_string_ext(list, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(list);
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    json_object *r = cf_redacted(json_object_array_get_idx(objs, i));
    char *y = cli_yaml_emit(r, err);
    json_object_put(r);
    if (!y) return err ? err->code : -EINVAL;
    fprintf(out, "---\n%s", y);
    free(y);
  }
  return 0;
}
