/* fed deployments: the federation apiserver (kube-apiserver with an etcd sidecar when etcd is
 * local) and the federation controller manager (kubefed-controller-manager from the operator's
 * image, extraArgs checked against its own flag table), with kubefed v1's args, volumes and
 * annotations.
 * Pure functions (objects.h). */
#include "objects.h"

#include <stdlib.h>
#include <string.h>

#include <kf/kc.h>
#include <kf/kj.h>
#include <kubefed/cm_options.h>

#include "federation_internal.h"

#define FED_STR_(x) #x
#define FED_STR(x) FED_STR_(x)

/* args: a json object flag -> value (JSON null: a bare boolean flag, "--flag"). extra (the
 * user's extraArgs) replaces or adds; the result is sorted, as kubefed v1's argMapsToArgStrings
 * did. */
static json_object *fed_render_args(json_object *args, json_object *extra) {
  if (extra) {
    json_object_object_foreach (extra, k, v) kj_str(args, k, json_object_get_string(v));
  }
  size_t n = (size_t)json_object_object_length(args), i = 0;
  char **flags = kf_calloc(n + 1, sizeof(char *));
  json_object_object_foreach (args, k, v)
    flags[i++] = v ? kf_asprintf("--%s=%s", k, json_object_get_string(v)) : kf_asprintf("--%s", k);
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
  /* The Service's short name, as in its kubeconfig: the pod runs in the Federation's namespace. */
  char *master = kf_asprintf("https://%s-apiserver", s->name);
  kj_str(a, "dns-provider", s->dns_provider);
  kj_str(a, "federation-name", s->name);
  /* Member copies are labelled with it, so two federations of one name never take each other's. */
  kj_str(a, "federation-uid", s->uid);
  kj_str(a, "health-bind-address", ":" FED_STR(FED_CM_HEALTH_PORT));
  kj_str(a, "kubeconfig", FED_CM_KUBECONFIG_DIR "/kubeconfig");
  kj_str(a, "master", master);
  kj_str(a, "metrics-bind-address", ":" FED_STR(FED_CM_METRICS_PORT));
  kj_str(a, "zone-name", s->zone_name);
  if (s->dns_config_secret) kj_str(a, "dns-provider-config", FED_DNS_DIR "/" FED_DNS_KEY);
  if (s->cm_replicas > 1) {
    /* One replica reconciles; its Lease lives in the federation API, where the program works. */
    json_object_object_add(a, "leader-elect", NULL);
    kj_str(a, "leader-election-namespace", API_FEDERATION_SYSTEM);
  }
  free(master);
  return fed_render_args(a, s->cm_extra_args);
}

int fed_controller_manager_args_check(const fed_spec *s, kf_error *err) {
  json_object *args = fed_controller_manager_args(s);
  size_t n = json_object_array_length(args);
  const char **argv = kf_calloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) argv[i] = json_object_get_string(json_object_array_get_idx(args, i));
  int rc = cm_options_check_args(argv, n, err);
  free(argv);
  json_object_put(args);
  return rc;
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

static json_object *fed_probe_on(const char *path, int port, const char *scheme, int initial_delay, int failures) {
  json_object *p = kj_obj(), *get = kj_obj();
  kj_str(get, "path", path);
  kj_int(get, "port", port);
  kj_str(get, "scheme", scheme);
  kj_set(p, "httpGet", get);
  if (initial_delay > 0) kj_int(p, "initialDelaySeconds", initial_delay); /* 0 is omitted by the server */
  kj_int(p, "periodSeconds", 10);
  kj_int(p, "timeoutSeconds", 5);
  kj_int(p, "failureThreshold", failures);
  return p;
}

static json_object *fed_probe(const char *path, int initial_delay, int failures) {
  return fed_probe_on(path, FED_APISERVER_PORT, "HTTPS", initial_delay, failures);
}

/* The user's resources, else requests like kubeadm's static pods: a pod without requests is
 * BestEffort (evicted first) and refused where a ResourceQuota wants requests. */
static void fed_resources(json_object *container, json_object *user, const char *cpu, const char *memory) {
  if (user) {
    kj_copy(container, "resources", user);
    return;
  }
  json_object *req = kj_obj();
  kj_str(req, "cpu", cpu);
  if (memory) kj_str(req, "memory", memory);
  kj_set(container, "resources", kj_set(kj_obj(), "requests", req));
}

static json_object *fed_port(const char *name, int port) {
  json_object *p = kj_obj();
  kj_str(p, "name", name);
  kj_int(p, "containerPort", port);
  kj_str(p, "protocol", "TCP");
  return p;
}

/* PodSecurity `restricted` (a namespace enforcing it rejects anything less): no privilege
 * escalation, no capabilities (port 8443 needs none), non-root, seccomp RuntimeDefault. */
static json_object *fed_container(const char *name, const char *image, const char *pull_policy) {
  json_object *c = kj_obj(), *sc = kj_obj();
  kj_str(c, "name", name);
  kj_str(c, "image", image);
  kj_str(c, "imagePullPolicy", pull_policy);
  kj_bool(sc, "allowPrivilegeEscalation", 0);
  kj_set(sc, "capabilities", kj_set(kj_obj(), "drop", kj_push_str(kj_arr(), "ALL")));
  kj_bool(sc, "runAsNonRoot", 1);
  kj_set(sc, "seccompProfile", kj_str(kj_obj(), "type", "RuntimeDefault"));
  kj_set(c, "securityContext", sc);
  return c;
}

/* The pod's user: the kube-apiserver and etcd images (distroless) run as root unless told, and
 * both work as any uid; 65532 is distroless's nonroot user, the operator image's too. fsGroup
 * makes the 0400 Secret files readable by that group and the etcd volume writable. */
static json_object *fed_pod_security_context(void) {
  json_object *sc = kj_obj();
  kj_int(sc, "runAsUser", FED_POD_UID);
  kj_int(sc, "runAsGroup", FED_POD_UID);
  kj_int(sc, "fsGroup", FED_POD_UID);
  kj_bool(sc, "runAsNonRoot", 1);
  kj_set(sc, "seccompProfile", kj_str(kj_obj(), "type", "RuntimeDefault"));
  return sc;
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
    json_object_object_foreach (annotations, k, v) kj_str(ann, k, json_object_get_string(v));
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
  kj_set(pod_spec, "securityContext", fed_pod_security_context());
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
  kj_set(api, "ports", kj_push(kj_arr(), fed_port("https", FED_APISERVER_PORT)));
  json_object *mounts = kj_push(kj_arr(), fed_volume_mount("apiserver-credentials", FED_CREDENTIALS_DIR));
  kj_push(volumes, fed_secret_volume("apiserver-credentials", cred));
  if (!s->etcd_local) {
    kj_push(mounts, fed_volume_mount("etcd-client", FED_ETCD_CLIENT_DIR));
    kj_push(volumes, fed_secret_volume("etcd-client", s->etcd_tls_secret));
  }
  kj_set(api, "volumeMounts", mounts);
  kj_set(api, "readinessProbe", fed_probe("/readyz", 0, 3));
  kj_set(api, "livenessProbe", fed_probe("/livez", 15, 8));
  fed_resources(api, kc_obj_get(s->api_pod, "resources"), "250m", NULL);
  kj_push(containers, api);

  if (s->etcd_local) {
    json_object *etcd = fed_container("etcd", s->etcd_image, s->pull_policy);
    json_object *args = kj_arr();
    char *a[] = {kf_asprintf("--name=%s", s->name), kf_strdup("--data-dir=/var/etcd/data"),
                 kf_strdup("--listen-client-urls=http://127.0.0.1:2379"),
                 kf_strdup("--advertise-client-urls=http://127.0.0.1:2379"),
                 kf_strdup("--listen-peer-urls=http://127.0.0.1:2380"),
                 kf_strdup("--initial-advertise-peer-urls=http://127.0.0.1:2380"),
                 kf_asprintf("--initial-cluster=%s=http://127.0.0.1:2380", s->name),
                 /* /livez for the kubelet, which probes the pod's IP (kubeadm's etcd has the host's
                  * network and listens on 127.0.0.1); metrics and health only, no data. */
                 kf_asprintf("--listen-metrics-urls=http://0.0.0.0:%d", FED_ETCD_METRICS_PORT)};
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
    /* kubeadm's: a hung etcd is restarted. */
    json_object *live = fed_probe_on("/livez", FED_ETCD_METRICS_PORT, "HTTP", 10, 8);
    kj_int(live, "timeoutSeconds", 15);
    kj_set(etcd, "livenessProbe", live);
    fed_resources(etcd, s->etcd_resources, "100m", "100Mi");
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
  return fed_deployment(s, "apiserver", "federation-apiserver", s->api_replicas, s->etcd_local, pod_spec, s->api_pod,
                        config_hash, NULL);
}

static char *fed_zone_without_dot(const fed_spec *s) {
  char *z = kf_strdup(s->zone_name);
  size_t n = strlen(z);
  while (n > 0 && z[n - 1] == '.') z[--n] = '\0';
  return z;
}

json_object *fed_desired_controller_manager(const fed_spec *s, const char *config_hash) {
  json_object *pod_spec = kj_obj(), *volumes = kj_arr();
  char *kubeconfig = fed_child_name(s, "controller-manager-kubeconfig");
  json_object *cm = fed_container("controller-manager", s->cm_image, s->pull_policy);
  kj_set(cm, "command", kj_push_str(kj_arr(), FED_CM_COMMAND));
  kj_set(cm, "args", fed_controller_manager_args(s));
  kj_set(cm, "ports",
         kj_push(kj_push(kj_arr(), fed_port("health", FED_CM_HEALTH_PORT)), fed_port("metrics", FED_CM_METRICS_PORT)));
  json_object *mounts = kj_push(kj_arr(), fed_volume_mount("kubeconfig", FED_CM_KUBECONFIG_DIR));
  kj_push(volumes, fed_secret_volume("kubeconfig", kubeconfig));
  if (s->dns_config_secret) {
    char *dns = fed_child_name(s, "dns-provider");
    kj_push(mounts, fed_volume_mount("config-volume", FED_DNS_DIR));
    kj_push(volumes, fed_secret_volume("config-volume", dns));
    free(dns);
  }
  kj_set(cm, "volumeMounts", mounts);
  /* /healthz answers while the event loop runs. /readyz (caches synced, and leading when leader
   * election is on) marks the pod Ready; with several replicas only the leader would ever be
   * Ready, so a standby could never become available and a rollout would never finish: the
   * standbys are ready when they are alive. */
  kj_set(cm, "livenessProbe", fed_probe_on("/healthz", FED_CM_HEALTH_PORT, "HTTP", 10, 3));
  kj_set(cm, "readinessProbe",
         fed_probe_on(s->cm_replicas > 1 ? "/healthz" : "/readyz", FED_CM_HEALTH_PORT, "HTTP", 0, 3));
  fed_resources(cm, kc_obj_get(s->cm_pod, "resources"), "100m", "64Mi");
  kj_set(pod_spec, "containers", kj_push(kj_arr(), cm));
  kj_set(pod_spec, "volumes", volumes);
  /* The controller manager talks to the federation API and the members only (its kubeconfig and
   * the member credential Secrets there): no host credential in the pod. serviceAccountName is
   * set, not left out: an upgraded Deployment that named F-controller-manager keeps it through the
   * deprecated serviceAccount alias otherwise, and that ServiceAccount is deleted. */
  kj_str(pod_spec, "serviceAccountName", "default");
  kj_bool(pod_spec, "automountServiceAccountToken", 0);
  free(kubeconfig);

  /* kubefed v1's annotations: join read `federations` to configure the members' DNS. */
  json_object *ann = kj_obj();
  char *zone = fed_zone_without_dot(s);
  char *federations = kf_asprintf("%s=%s", s->name, zone);
  kj_str(ann, "federations", federations);
  if (strcmp(s->dns_provider, "coredns") == 0) {
    kj_str(ann, "dns-provider", "coredns");
    kj_str(ann, "dns-zone-name", zone);
    if (s->coredns_nameservers) { /* optional: kubefed v1 wrote none without coredns endpoints */
      char *ns = kj_join(s->coredns_nameservers, ",");
      kj_str(ann, "nameserver", ns);
      free(ns);
    }
  }
  free(federations);
  free(zone);
  return fed_deployment(s, "controller-manager", "federation-controller-manager", s->cm_replicas, 0, pod_spec,
                        s->cm_pod, config_hash, ann);
}
