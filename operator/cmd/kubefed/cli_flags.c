#include "cli_flags.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clusterdns/clusterdns.h"
#include <kf/flags.h>
#include <kf/kc.h>
#include <kf/kj.h>

#define C_INIT (1u << CLI_INIT)
#define C_JOIN (1u << CLI_JOIN)
#define C_UNJOIN (1u << CLI_UNJOIN)
#define C_ALL (C_INIT | C_JOIN | C_UNJOIN)
#define OFF(f) offsetof(cli_opts, f)

static int cf_set_federation(void *base, const kf_flag *f, const char *value, kf_error *err);
static int cf_set_dry_run(void *base, const kf_flag *f, const char *value, kf_error *err);

/* name, shorthand, type, commands (`in`), field, metavar, help [, set hook] */
#define CF(n, sh, type, cmds, off, arg, help) \
  { n, sh, type, cmds, off, arg, help, NULL, NULL, NULL }
#define CF_SET(n, sh, type, cmds, off, arg, help, set) \
  { n, sh, type, cmds, off, arg, help, NULL, NULL, set }

/* The runtime's flag table (kf/flags.h); `in` is the commands a flag belongs to.
 * The order is the order of --help. */
static const kf_flag FLAGS[] = {
    CF("host-cluster-context", 0, KF_FLAG_STRING, C_ALL, OFF(host_context), "CONTEXT",
       "kubeconfig context of the host cluster, where the Federation and FederatedClusters live (default: the "
       "current context)"),
    CF("federation-system-namespace", 0, KF_FLAG_STRING, C_ALL, OFF(namespace_), "NAMESPACE",
       "namespace of the federation control plane on the host cluster (default \"federation-system\")"),
    CF("kubeconfig", 0, KF_FLAG_STRING, C_ALL, OFF(kubeconfig), "PATH",
       "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config); init adds the federation's context to it"),
    CF("dns-provider", 0, KF_FLAG_STRING, C_INIT, OFF(dns_provider), "PROVIDER",
       "DNS provider of the federation's zone: coredns, google-clouddns, aws-route53 or azure-azuredns (required)"),
    CF("dns-zone-name", 0, KF_FLAG_STRING, C_INIT, OFF(dns_zone), "ZONE",
       "DNS zone of federated services, with a trailing dot, e.g. example.com. (required)"),
    CF("dns-provider-config", 0, KF_FLAG_STRING, C_INIT, OFF(dns_provider_config), "FILE",
       "DNS provider config file, stored in Secret FEDERATION-dns-provider-config (key provider.conf)"),
    CF("coredns-nameservers", 0, KF_FLAG_STRING, C_INIT, OFF(coredns_nameservers), "IP[:PORT],...",
       "coredns only: where member clusters forward the zone (default: coredns-endpoints of the "
       "--dns-provider-config file's [Global] section; none: members get no forward block)"),
    CF("image", 0, KF_FLAG_STRING, C_INIT, OFF(image), "IMAGE",
       "the federation control plane image (kubefed v1's fcp/hyperkube image), run as the controller manager; "
       "the API server is a plain kube-apiserver, see --apiserver-image (default: the operator's tested version)"),
    CF("apiserver-image", 0, KF_FLAG_STRING, C_INIT, OFF(apiserver_image), "IMAGE",
       "kube-apiserver image of the federation API server (default: the operator's tested version)"),
    CF("controllermanager-image", 0, KF_FLAG_STRING, C_INIT, OFF(cm_image), "IMAGE", "same as --image (wins over it)"),
    CF("etcd-image", 0, KF_FLAG_STRING, C_INIT, OFF(etcd_image), "IMAGE", "etcd image"),
    CF("etcd-persistent-storage", 0, KF_FLAG_BOOL, C_INIT, OFF(etcd_persistent), NULL,
       "keep etcd's data in a PersistentVolumeClaim; false: an emptyDir, lost with the pod (default true)"),
    CF("etcd-pv-capacity", 0, KF_FLAG_STRING, C_INIT, OFF(etcd_pv_capacity), "QUANTITY",
       "size of etcd's PersistentVolumeClaim (default \"10Gi\")"),
    CF("etcd-pv-storage-class", 0, KF_FLAG_STRING, C_INIT, OFF(etcd_pv_storage_class), "CLASS",
       "storage class of etcd's PersistentVolumeClaim (default: the cluster's default class)"),
    CF("etcd-servers", 0, KF_FLAG_STRING, C_INIT, OFF(etcd_servers), "URL,...",
       "use this external etcd (https:// URLs) instead of a local one; needs --etcd-tls-secret"),
    CF("etcd-tls-secret", 0, KF_FLAG_STRING, C_INIT, OFF(etcd_tls_secret), "NAME",
       "Secret (ca.crt, tls.crt, tls.key) for the client connection to --etcd-servers"),
    CF("apiserver-arg-overrides", 0, KF_FLAG_STRING, C_INIT, OFF(apiserver_overrides), "\"--FLAG=VALUE,...\"",
       "kube-apiserver flags that add to or replace the generated ones"),
    CF("controllermanager-arg-overrides", 0, KF_FLAG_STRING, C_INIT, OFF(cm_overrides), "\"--FLAG=VALUE,...\"",
       "controller manager flags that add to or replace the generated ones"),
    CF("api-server-service-type", 0, KF_FLAG_STRING, C_INIT, OFF(service_type), "TYPE",
       "type of the FEDERATION-apiserver Service: LoadBalancer, NodePort or ClusterIP (default \"LoadBalancer\")"),
    CF("api-server-advertise-address", 0, KF_FLAG_STRING, C_INIT, OFF(advertise_address), "IP",
       "NodePort only: the IP clients reach the API server at (endpoint and certificate SAN)"),
    CF("api-server-port", 0, KF_FLAG_INT, C_INIT, OFF(api_port), "PORT",
       "NodePort only: the node port (default 0: chosen by Kubernetes)"),
    CF("apiserver-enable-token-auth", 0, KF_FLAG_BOOL, C_INIT, OFF(token_auth), NULL,
       "static token authentication; needs --token-auth-secret (default false)"),
    CF("token-auth-secret", 0, KF_FLAG_STRING, C_INIT, OFF(token_auth_secret), "NAME",
       "Secret with the token file (key token.csv) for --apiserver-enable-token-auth"),
    CF("apiserver-enable-basic-auth", 0, KF_FLAG_BOOL, C_INIT, OFF(basic_auth), NULL,
       "removed: Kubernetes 1.19 dropped basic authentication (use token auth or client certificates)"),
    CF("node-selector", 0, KF_FLAG_STRING, C_INIT, OFF(node_selector), "KEY=VALUE,...",
       "node selector of the API server and controller manager pods"),
    CF("image-pull-policy", 0, KF_FLAG_STRING, C_INIT, OFF(pull_policy), "POLICY",
       "Always, IfNotPresent or Never (default \"IfNotPresent\")"),
    CF("image-pull-secrets", 0, KF_FLAG_STRING, C_INIT, OFF(pull_secrets), "NAME[,NAME]",
       "image pull Secret(s) of the control plane pods"),
    CF("cluster-context", 0, KF_FLAG_STRING, C_JOIN, OFF(cluster_context), "CONTEXT",
       "kubeconfig context of the joining cluster (default: CLUSTER); its cluster and user are stored, files "
       "inlined"),
    CF("cluster-context", 0, KF_FLAG_STRING, C_UNJOIN, OFF(cluster_context), "CONTEXT",
       "accepted for kubefed v1 scripts, unused: the operator reaches the member with the stored credentials"),
    CF("secret-name", 0, KF_FLAG_STRING, C_JOIN, OFF(secret_name), "NAME",
       "name of the credential Secret the operator stores on the host (default: derived from CLUSTER)"),
    CF_SET("federation", 0, KF_FLAG_STRING, C_JOIN, OFF(federation), "FEDERATION",
           "the Federation to join (default: the only one in the namespace)", cf_set_federation),
    CF_SET("federation", 0, KF_FLAG_STRING, C_UNJOIN, OFF(federation), "FEDERATION",
           "refuse unless CLUSTER is joined to this Federation", cf_set_federation),
    CF_SET("context", 0, KF_FLAG_STRING, C_JOIN | C_UNJOIN, OFF(federation), "FEDERATION",
           "same as --federation (kubefed v1 named the federation by its kubeconfig context)", cf_set_federation),
    CF_SET("dry-run", 0, KF_FLAG_BOOL, C_INIT, OFF(dry_run), NULL,
           "print what would be applied and change nothing; no cluster is contacted", cf_set_dry_run),
    CF_SET("dry-run", 0, KF_FLAG_BOOL, C_JOIN, OFF(dry_run), NULL,
           "print what would be applied and change nothing; the host is only read, to find the Federation when "
           "--federation is not given",
           cf_set_dry_run),
    CF("output", 'o', KF_FLAG_STRING, C_INIT | C_JOIN, OFF(output), "FORMAT",
       "with --dry-run: print the objects as yaml (documents) or json (a v1 List); Secret values are redacted"),
    CF("timeout", 0, KF_FLAG_DURATION, C_ALL, OFF(timeout_ms), "DURATION",
       "give up after this long with exit code 3 (default 5m; 0: no limit)"),
};
#define NFLAGS (sizeof(FLAGS) / sizeof(FLAGS[0]))

static const char *const CMD_NAMES[] = {"", "init", "join", "unjoin", "version", "help"};

void cli_usage(FILE *out, cli_cmd cmd) {
  if (cmd == CLI_INIT)
    fputs("Usage: kubefed init FEDERATION --host-cluster-context=CONTEXT --dns-provider=PROVIDER "
          "--dns-zone-name=ZONE [flags]\n\n"
          "Creates the Federation FEDERATION (kubefed.dev/v1alpha1) on the host cluster, waits until the\n"
          "operator reports it Ready, and adds cluster, user and context FEDERATION to your kubeconfig\n"
          "(the current context is not changed).\n\n"
          "Example:\n"
          "  kubefed init fellowship --host-cluster-context=rivendell --dns-provider=coredns \\\n"
          "    --dns-zone-name=example.com. --dns-provider-config=coredns-provider.conf\n\n",
          out);
  else if (cmd == CLI_JOIN)
    fputs("Usage: kubefed join CLUSTER --host-cluster-context=CONTEXT [--cluster-context=CONTEXT] [flags]\n\n"
          "Stores the --cluster-context part of your kubeconfig (credentials inlined) in Secret\n"
          "CLUSTER-kubeconfig on the host cluster, creates the FederatedCluster CLUSTER and waits until it\n"
          "is Ready. exec and auth-provider credentials cannot be stored and are refused.\n\n"
          "Example:\n"
          "  kubefed join gondor --host-cluster-context=rivendell --cluster-context=gondor_needs-no_king\n\n",
          out);
  else if (cmd == CLI_UNJOIN)
    fputs("Usage: kubefed unjoin CLUSTER --host-cluster-context=CONTEXT [flags]\n\n"
          "Deletes the FederatedCluster CLUSTER and waits until the operator has removed the member; then\n"
          "deletes the Secret kubefed join stored its kubeconfig in.\n\n"
          "Example:\n"
          "  kubefed unjoin gondor --host-cluster-context=rivendell\n\n",
          out);
  else {
    fputs("kubefed: Kubernetes Cluster Federation's kubefed commands, applied as kubefed-operator resources.\n\n"
          "Usage:\n"
          "  kubefed init FEDERATION --host-cluster-context=CONTEXT --dns-provider=P --dns-zone-name=Z [flags]\n"
          "  kubefed join CLUSTER --host-cluster-context=CONTEXT [--cluster-context=CONTEXT] [flags]\n"
          "  kubefed unjoin CLUSTER --host-cluster-context=CONTEXT [flags]\n"
          "  kubefed version\n"
          "  kubefed COMMAND --help\n\n"
          "Exit codes: 0 done, 1 API or cluster error, 2 usage error, 3 timed out.\n",
          out);
    return;
  }
  kf_flags fs = {FLAGS, NFLAGS, 1u << cmd, 0, NULL};
  kf_flags_usage(out, &fs);
  fputs("  -h, --help\n        print this help\n", out);
}

static char *cf_trim(const char *s, size_t n) {
  while (n > 0 && isspace((unsigned char)*s)) {
    s++;
    n--;
  }
  while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
  return kf_strndup(s, n);
}

static int cf_flag_name_ok(const char *k) {
  if (!isalnum((unsigned char)k[0])) return 0;
  for (const char *p = k; *p; p++)
    if (!isalnum((unsigned char)*p) && !strchr("-_.", *p)) return 0;
  return 1;
}

/* Splits "a=b,c=d" into a new object; strip_dashes for arg overrides. */
static json_object *cf_split_pairs(const char *flag, const char *s, int strip_dashes, kf_error *err) {
  json_object *out = kj_obj();
  const char *p = s;
  if (!s || !*s) return out;
  for (;;) {
    size_t n = strcspn(p, ",");
    const char *eq = memchr(p, '=', n);
    if (!eq) {
      char *item = kf_strndup(p, n);
      kf_error_set(err, -EINVAL, "--%s: wrong format for \"%s\": want %s", flag, item,
                   strip_dashes ? "--name=value" : "key=value");
      free(item);
      json_object_put(out);
      return NULL;
    }
    char *k = cf_trim(p, (size_t)(eq - p)), *v = cf_trim(eq + 1, n - (size_t)(eq - p) - 1);
    char *key = k;
    if (strip_dashes)
      while (*key == '-') key++;
    int ok = strip_dashes ? cf_flag_name_ok(key) : key[0] != '\0';
    if (!ok) {
      kf_error_set(err, -EINVAL, "--%s: wrong format for \"%.*s\": %s", flag, (int)n, p,
                   key[0] ? "a flag name is letters, digits, '-', '_' and '.'" : "the name cannot be empty");
      free(k);
      free(v);
      json_object_put(out);
      return NULL;
    }
    kj_str(out, key, v);
    free(k);
    free(v);
    if (!p[n]) break;
    p += n + 1;
  }
  return out;
}

json_object *cli_parse_overrides(const char *flag, const char *s, kf_error *err) {
  return cf_split_pairs(flag, s, 1, err);
}

json_object *cli_parse_map(const char *flag, const char *s, kf_error *err) { return cf_split_pairs(flag, s, 0, err); }

json_object *cli_list(const char *s) {
  json_object *a = kj_arr();
  const char *p = s;
  while (p && *p) {
    size_t n = strcspn(p, ",");
    char *item = cf_trim(p, n);
    if (item[0]) kj_push_str(a, item);
    free(item);
    p += n;
    if (*p) p++;
  }
  return a;
}

json_object *cli_coredns_endpoints(const char *conf, size_t len) {
  int global = 0;
  const char *p = conf, *end = conf + len;
  json_object *out = NULL;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    char *line = cf_trim(p, n);
    p += n + (nl ? 1 : 0);
    if (!line[0] || line[0] == '#' || line[0] == ';') {
      free(line);
      continue;
    }
    if (line[0] == '[') {
      char *close = strchr(line, ']');
      char *sect = close ? cf_trim(line + 1, (size_t)(close - line - 1)) : kf_strdup("");
      global = strcasecmp(sect, "global") == 0;
      free(sect);
      free(line);
      continue;
    }
    char *eq = strchr(line, '=');
    if (global && eq) {
      char *key = cf_trim(line, (size_t)(eq - line));
      if (strcasecmp(key, "coredns-endpoints") == 0) {
        char *val = cf_trim(eq + 1, strlen(eq + 1));
        size_t vn = strlen(val);
        if (vn >= 2 && val[0] == '"' && val[vn - 1] == '"') {
          val[vn - 1] = '\0';
          memmove(val, val + 1, vn - 1);
        }
        if (out) json_object_put(out);
        out = cli_list(val);
        free(val);
      }
      free(key);
    }
    free(line);
  }
  if (out && json_object_array_length(out) == 0) {
    json_object_put(out);
    out = NULL;
  }
  return out;
}

int cli_is_dns1035_label(const char *s, size_t max) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > max || !islower((unsigned char)s[0]) || s[n - 1] == '-') return 0;
  for (size_t i = 0; i < n; i++)
    if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-')) return 0;
  return 1;
}

static int cf_is_dns1123_label(const char *s, size_t n) {
  if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-') return 0;
  for (size_t i = 0; i < n; i++)
    if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-')) return 0;
  return 1;
}

int cli_is_dns1123_subdomain(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 253) return 0;
  for (const char *p = s;;) {
    size_t l = strcspn(p, ".");
    if (!cf_is_dns1123_label(p, l)) return 0;
    if (!p[l]) return 1;
    p += l + 1;
  }
}

static int cf_zone_ok(const char *z) {
  size_t n = strlen(z);
  if (n < 2 || n > 254 || z[n - 1] != '.') return 0;
  for (const char *p = z; *p;) {
    size_t l = strcspn(p, ".");
    if (!cf_is_dns1123_label(p, l)) return 0;
    p += l + 1;
  }
  return 1;
}

static int cf_is_ip(const char *s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* IP, IP:port or [IPv6]:port, never unspecified or link-local, never loopback on port 53 (or
 * without a port): the CRD's corednsNameservers rules, so a dry run prints nothing it refuses. */
int cli_nameserver_ok(const char *s) {
  clusterdns_ns_kind k = clusterdns_nameserver_kind(s, 53);
  return k == CLUSTERDNS_NS_OK || k == CLUSTERDNS_NS_LOOPBACK;
}

/* --federation and --context share a field: they must agree. */
static int cf_set_federation(void *base, const kf_flag *f, const char *value, kf_error *err) {
  cli_opts *o = base;
  (void)f;
  if (o->federation && strcmp(o->federation, value) != 0)
    return kf_error_set(err, -EINVAL, "--federation and --context name different federations (%s, %s)", o->federation,
                        value);
  o->federation = value;
  return 0;
}

/* kubectl's --dry-run=client|none spellings, besides a bool's. */
static int cf_set_dry_run(void *base, const kf_flag *f, const char *value, kf_error *err) {
  cli_opts *o = base;
  if (strcmp(value, "client") == 0 || strcmp(value, "none") == 0) {
    o->dry_run = value[0] == 'c';
    return 0;
  }
  return kf_flags_set_typed(f, base, value, err);
}

static int cf_check_init(cli_opts *o, kf_error *err) {
  if (o->basic_auth == 1)
    return kf_error_set(err, -EINVAL,
                        "--apiserver-enable-basic-auth is no longer supported: Kubernetes removed basic "
                        "authentication from kube-apiserver in 1.19. Use --apiserver-enable-token-auth with "
                        "--token-auth-secret, or the client certificate in the admin kubeconfig init writes");
  if (!cli_is_dns1035_label(o->name, 50))
    return kf_error_set(err, -EINVAL,
                        "federation name \"%s\" must be an RFC 1035 label (lower case letters, digits and '-', "
                        "starting with a letter) of at most 50 characters",
                        o->name);
  if (!o->dns_provider) return kf_error_set(err, -EINVAL, "--dns-provider is mandatory");
  if (strcmp(o->dns_provider, "coredns") != 0 && strcmp(o->dns_provider, "google-clouddns") != 0 &&
      strcmp(o->dns_provider, "aws-route53") != 0 && strcmp(o->dns_provider, "azure-azuredns") != 0)
    return kf_error_set(err, -EINVAL, "--dns-provider=%s: want coredns, google-clouddns, aws-route53 or azure-azuredns",
                        o->dns_provider);
  if (!o->dns_zone) return kf_error_set(err, -EINVAL, "--dns-zone-name is mandatory");
  if (!cf_zone_ok(o->dns_zone))
    return kf_error_set(err, -EINVAL,
                        "--dns-zone-name=%s: want a lower case DNS name ending with a dot, e.g. example.com.",
                        o->dns_zone);
  int coredns = strcmp(o->dns_provider, "coredns") == 0;
  if (o->coredns_nameservers) {
    if (!coredns) return kf_error_set(err, -EINVAL, "--coredns-nameservers is only for --dns-provider=coredns");
    json_object *l = cli_list(o->coredns_nameservers);
    int ok = json_object_array_length(l) > 0 && json_object_array_length(l) <= DNS_MAX_NAMESERVERS;
    for (size_t i = 0; ok && i < json_object_array_length(l); i++)
      ok = cli_nameserver_ok(json_object_get_string(json_object_array_get_idx(l, i)));
    json_object_put(l);
    if (!ok)
      return kf_error_set(err, -EINVAL,
                          "--coredns-nameservers=%s: want 1 to %d IP[:port] entries, ','-separated, none "
                          "unspecified, link-local or a loopback address on port 53 (a member's DNS would forward "
                          "to itself)",
                          o->coredns_nameservers, DNS_MAX_NAMESERVERS);
  }
  /* Neither --coredns-nameservers nor coredns-endpoints in the config (kubefed v1's documented
   * init): accepted, as kubefed v1 did; joins then add no forward block. */
  if (o->service_type && strcmp(o->service_type, "LoadBalancer") != 0 && strcmp(o->service_type, "NodePort") != 0 &&
      strcmp(o->service_type, "ClusterIP") != 0)
    return kf_error_set(err, -EINVAL, "--api-server-service-type=%s: want LoadBalancer or NodePort (or ClusterIP)",
                        o->service_type);
  int nodeport = o->service_type && strcmp(o->service_type, "NodePort") == 0;
  if (o->advertise_address) {
    if (!nodeport)
      return kf_error_set(err, -EINVAL,
                          "--api-server-advertise-address is only allowed with "
                          "--api-server-service-type=NodePort");
    if (!cf_is_ip(o->advertise_address))
      return kf_error_set(err, -EINVAL, "--api-server-advertise-address=%s: not a valid IP address",
                          o->advertise_address);
  }
  if (o->api_port != -1) {
    if (!nodeport)
      return kf_error_set(err, -EINVAL, "--api-server-port is only allowed with --api-server-service-type=NodePort");
    if (o->api_port < 0 || o->api_port > 65535)
      return kf_error_set(err, -EINVAL, "--api-server-port=%ld: want 0 (any) to 65535", o->api_port);
  }
  if (o->etcd_servers) {
    const char *bad = o->etcd_image              ? "--etcd-image"
                      : o->etcd_persistent != -1 ? "--etcd-persistent-storage"
                      : o->etcd_pv_capacity      ? "--etcd-pv-capacity"
                      : o->etcd_pv_storage_class ? "--etcd-pv-storage-class"
                                                 : NULL;
    if (bad)
      return kf_error_set(err, -EINVAL, "%s is for the local etcd and cannot be combined with --etcd-servers", bad);
    if (!o->etcd_tls_secret)
      return kf_error_set(err, -EINVAL,
                          "--etcd-servers needs --etcd-tls-secret=NAME: a Secret with ca.crt, tls.crt "
                          "and tls.key for the etcd client connection");
    json_object *l = cli_list(o->etcd_servers);
    size_t n = json_object_array_length(l);
    int ok = n > 0 && n <= 16;
    for (size_t i = 0; ok && i < n; i++) {
      const char *u = json_object_get_string(json_object_array_get_idx(l, i));
      ok = strncmp(u, "https://", 8) == 0 && u[8] && !strpbrk(u + 8, "?#@ ");
    }
    json_object_put(l);
    if (!ok)
      return kf_error_set(err, -EINVAL,
                          "--etcd-servers=%s: want 1 to 16 https:// URLs, ','-separated (the "
                          "operator reaches external etcd over TLS only)",
                          o->etcd_servers);
  } else if (o->etcd_tls_secret) {
    return kf_error_set(err, -EINVAL, "--etcd-tls-secret is only for --etcd-servers");
  }
  if (o->etcd_persistent == 0 && o->etcd_pv_storage_class)
    return kf_error_set(err, -EINVAL, "--etcd-pv-storage-class needs --etcd-persistent-storage=true");
  if (o->etcd_tls_secret && !cli_is_dns1123_subdomain(o->etcd_tls_secret))
    return kf_error_set(err, -EINVAL, "--etcd-tls-secret=%s is not a valid Secret name", o->etcd_tls_secret);
  json_object *m;
  if (!(m = cli_parse_overrides("apiserver-arg-overrides", o->apiserver_overrides, err))) return -EINVAL;
  json_object_put(m);
  if (!(m = cli_parse_overrides("controllermanager-arg-overrides", o->cm_overrides, err))) return -EINVAL;
  json_object_put(m);
  if (!(m = cli_parse_map("node-selector", o->node_selector, err))) return -EINVAL;
  json_object_put(m);
  if (o->pull_policy && strcmp(o->pull_policy, "Always") != 0 && strcmp(o->pull_policy, "IfNotPresent") != 0 &&
      strcmp(o->pull_policy, "Never") != 0)
    return kf_error_set(err, -EINVAL, "--image-pull-policy=%s: want Always, IfNotPresent or Never", o->pull_policy);
  if (o->pull_secrets) {
    json_object *l = cli_list(o->pull_secrets);
    int ok = 1;
    for (size_t i = 0; ok && i < json_object_array_length(l); i++)
      ok = cli_is_dns1123_subdomain(json_object_get_string(json_object_array_get_idx(l, i)));
    json_object_put(l);
    if (!ok) return kf_error_set(err, -EINVAL, "--image-pull-secrets=%s: not valid Secret names", o->pull_secrets);
  }
  if (o->token_auth == 1 && !o->token_auth_secret)
    return kf_error_set(err, -EINVAL,
                        "--apiserver-enable-token-auth needs --token-auth-secret=NAME: a Secret in the federation "
                        "namespace whose key token.csv is kube-apiserver's static token file (the operator does "
                        "not generate tokens)");
  if (o->token_auth == 0 && o->token_auth_secret)
    return kf_error_set(err, -EINVAL, "--token-auth-secret contradicts --apiserver-enable-token-auth=false");
  if (o->token_auth_secret && !cli_is_dns1123_subdomain(o->token_auth_secret))
    return kf_error_set(err, -EINVAL, "--token-auth-secret=%s is not a valid Secret name", o->token_auth_secret);
  return 0;
}

int cli_parse(int argc, char **argv, cli_opts *o, kf_error *err) {
  int i = 1, npos = 0;
  const char *pos[2] = {NULL, NULL};
  memset(o, 0, sizeof(*o));
  o->timeout_ms = CLI_DEFAULT_TIMEOUT_MS;
  o->etcd_persistent = o->token_auth = o->basic_auth = -1;
  o->api_port = -1;
  kf_error_clear(err);

  /* The command: the first argument that is not a flag (--name=value flags may come before
   * it, as kubectl users write them). Top-level -h/--help/--version too. */
  int ci = 0;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "help") == 0) {
      o->cmd = CLI_HELP;
      for (int j = i + 1; j < argc; j++)
        for (int c = CLI_INIT; c <= CLI_UNJOIN; c++)
          if (strcmp(argv[j], CMD_NAMES[c]) == 0) o->help_for = (cli_cmd)c;
      return 0;
    }
    if (strcmp(a, "--version") == 0 || strcmp(a, "version") == 0) {
      o->cmd = CLI_VERSION;
      return 0;
    }
    if (a[0] == '-' && strcmp(a, "--") != 0) continue;
    for (int c = CLI_INIT; c <= CLI_UNJOIN; c++)
      if (strcmp(a, CMD_NAMES[c]) == 0) o->cmd = (cli_cmd)c;
    if (o->cmd) {
      ci = i;
      break;
    }
    return kf_error_set(err, -EINVAL, "unknown command \"%s\": want init, join, unjoin or version (see kubefed --help)",
                        a);
  }
  if (!o->cmd) return kf_error_set(err, -EINVAL, "no command given: want init, join, unjoin or version");
  for (int j = 1; j < argc; j++) {
    if (strcmp(argv[j], "--") == 0) break;
    if (strcmp(argv[j], "-h") == 0 || strcmp(argv[j], "--help") == 0) {
      o->help_for = o->cmd;
      o->cmd = CLI_HELP;
      return 0;
    }
  }

  /* The flags and the name, in any order: argv without the command word. */
  char **rest = kf_calloc((size_t)argc, sizeof(*rest));
  int nrest = 0;
  for (i = 0; i < argc; i++)
    if (i != ci) rest[nrest++] = argv[i];
  char hint[64];
  snprintf(hint, sizeof(hint), "see kubefed %s --help", CMD_NAMES[o->cmd]);
  kf_flags fs = {FLAGS, NFLAGS, 1u << o->cmd, 0, hint};
  int rc = kf_flags_parse(&fs, o, nrest, rest, pos, 2, &npos, err);
  free(rest);
  if (rc != 0) return -EINVAL;

  const char *what = o->cmd == CLI_INIT ? "the federation name" : "the cluster name";
  if (npos != 1)
    return kf_error_set(err, -EINVAL, "kubefed %s takes exactly one argument, %s (got %d)", CMD_NAMES[o->cmd], what,
                        npos);
  o->name = pos[0];
  if (!o->namespace_) o->namespace_ = CLI_DEFAULT_NAMESPACE;
  size_t nslen = strlen(o->namespace_);
  if (!cf_is_dns1123_label(o->namespace_, nslen))
    return kf_error_set(err, -EINVAL, "--federation-system-namespace=%s is not a valid namespace name", o->namespace_);
  if (o->output && strcmp(o->output, "yaml") != 0 && strcmp(o->output, "json") != 0)
    return kf_error_set(err, -EINVAL, "--output=%s: want yaml or json", o->output);
  if (o->output && o->dry_run != 1) return kf_error_set(err, -EINVAL, "--output is only for --dry-run");
  if (o->dry_run == -1) o->dry_run = 0;

  if (o->cmd == CLI_INIT) return cf_check_init(o, err);
  if (!cli_is_dns1035_label(o->name, 63))
    return kf_error_set(
        err, -EINVAL,
        "cluster name \"%s\" must be an RFC 1035 label (lower case letters, digits and '-', starting "
        "with a letter) of at most 63 characters; use --cluster-context for a context with another name",
        o->name);
  if (o->federation && !cli_is_dns1035_label(o->federation, 63))
    return kf_error_set(err, -EINVAL, "--federation=%s is not a valid Federation name", o->federation);
  if (o->cmd == CLI_JOIN) {
    if (strlen(o->name) > 52)
      return kf_error_set(err, -EINVAL,
                          "cluster name \"%s\" is too long for join: the Secret %s-kubeconfig must be at most 63 "
                          "characters (at most 52 for the cluster name)",
                          o->name, o->name);
    if (!o->cluster_context) o->cluster_context = o->name;
    if (o->secret_name && !cli_is_dns1123_subdomain(o->secret_name))
      return kf_error_set(err, -EINVAL,
                          "--secret-name=%s must be an RFC 1123 subdomain: lower case letters, digits, '-' and '.', "
                          "starting and ending with a letter or digit",
                          o->secret_name);
  }
  return 0;
}
