/* kubefed-controller-manager's flag table (kubefed v1's flags, reference §1.3) and the checks
 * the operator shares with it. */
#include <kubefed/cm_options.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const cm_controller_names[CM_N_CONTROLLERS] = {
    [CM_SERVICES] = "services",
    [CM_SERVICE_DNS] = "service-dns",
    [CM_CONFIGMAPS] = "configmaps",
    [CM_SECRETS] = "secrets",
    [CM_NAMESPACES] = "namespaces",
    [CM_DAEMONSETS] = "daemonsets",
    [CM_DEPLOYMENTS] = "deployments",
    [CM_REPLICASETS] = "replicasets",
    [CM_HPAS] = "horizontalpodautoscalers",
    [CM_JOBS] = "jobs",
    [CM_INGRESSES] = "ingresses",
    [CM_SERVICEACCOUNTS] = "serviceaccounts",
    [CM_STATEFULSETS] = "statefulsets",
};

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
  return s;
}

/* Go's ConfigurationMap: "k=v[,k=v...]", each split on its first '=', trimmed; repeating the
 * flag merges. v1 read any value but "false" as on; a typo there should not silently enable a
 * controller, so only true and false are taken. */
static int set_controllers(void *base, const kf_flag *f, const char *value, kf_error *err) {
  cm_options *o = base;
  (void)f;
  char *copy = kf_strdup(value), *save = NULL;
  int rc = 0;
  for (char *item = strtok_r(copy, ",", &save); item && rc == 0; item = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(item, '=');
    if (!eq) {
      rc = kf_error_set(err, -EINVAL, "--controllers: %s: want name=true or name=false", item);
      break;
    }
    *eq = '\0';
    char *k = trim(item), *v = trim(eq + 1);
    int which = -1;
    for (int i = 0; i < CM_N_CONTROLLERS; i++)
      if (strcmp(k, cm_controller_names[i]) == 0) which = i;
    if (which < 0)
      rc = kf_error_set(err, -EINVAL,
                        "--controllers: unknown controller %s (known: services, service-dns, configmaps, secrets, "
                        "namespaces, serviceaccounts, daemonsets, deployments, replicasets, statefulsets, jobs, "
                        "horizontalpodautoscalers, ingresses)",
                        k);
    else if (strcmp(v, "true") == 0) o->controllers[which] = CM_ON;
    else if (strcmp(v, "false") == 0) o->controllers[which] = CM_OFF;
    else rc = kf_error_set(err, -EINVAL, "--controllers: %s=%s: the value must be true or false", k, v);
  }
  free(copy);
  return rc;
}

/* A v1 flag with no meaning here: its value is still checked as its type, then remembered so
 * main can say it is ignored (a kubefed v1 command line keeps working). */
static int set_ignored(void *base, const kf_flag *f, const char *value, kf_error *err) {
  cm_options *o = base;
  int rc = kf_flags_set_typed(f, base, value, err);
  if (rc != 0) return rc;
  for (size_t i = 0; i < o->n_ignored; i++)
    if (strcmp(o->ignored[i], f->name) == 0) return 0;
  if (o->n_ignored < CM_MAX_IGNORED) o->ignored[o->n_ignored++] = f->name;
  return 0;
}

#define OFF(field) offsetof(cm_options, field)
#define IGNORED(name, type, metavar, why) \
  { name, 0, type, 0, OFF(scratch), metavar, "kubefed v1's flag, accepted and ignored: " why, NULL, NULL, set_ignored }

/* The order is the order of --help. */
static const kf_flag FLAGS[] = {
    KF_MANAGER_FLAGS(OFF(m), API_CONTROLLER_MANAGER),
    {"master", 0, KF_FLAG_STRING, 0, OFF(m) + offsetof(kf_manager_opts, master), "URL",
     "the federation API server's URL, instead of the kubeconfig's server", NULL, NULL, NULL},
    {"federation-name", 0, KF_FLAG_STRING, 0, OFF(federation_name), "NAME", "the federation's name (in its DNS names)",
     NULL, NULL, NULL},
    {"federation-uid", 0, KF_FLAG_STRING, 0, OFF(federation_uid), "UID",
     "the host Federation's metadata.uid: member copies are labelled kubefed.dev/propagated-by=UID (set by the "
     "operator)",
     NULL, NULL, NULL},
    {"zone-name", 0, KF_FLAG_STRING, 0, OFF(zone_name), "ZONE", "DNS zone of federated services, e.g. example.com.",
     NULL, NULL, NULL},
    {"zone-id", 0, KF_FLAG_STRING, 0, OFF(zone_id), "ID", "DNS zone id, for providers with several same-named zones",
     NULL, NULL, NULL},
    {"service-dns-suffix", 0, KF_FLAG_STRING, 0, OFF(service_dns_suffix), "SUFFIX",
     "suffix of federated service names (default: --zone-name)", NULL, NULL, NULL},
    {"dns-provider", 0, KF_FLAG_STRING, 0, OFF(dns_provider), "NAME",
     "DNS provider of federated services: coredns, google-clouddns, aws-route53, azure-azuredns", NULL, NULL, NULL},
    {"dns-provider-config", 0, KF_FLAG_STRING, 0, OFF(dns_provider_config), "PATH", "the DNS provider's config file",
     NULL, NULL, NULL},
    {"controllers", 0, KF_FLAG_STRING, 0, OFF(controllers), "NAME=BOOL,...",
     "turn controllers on or off, e.g. services=false,ingresses=false (repeatable; default: every controller whose "
     "resource the federation API serves)",
     NULL, NULL, set_controllers},
    {"concurrent-service-syncs", 0, KF_FLAG_INT, 0, OFF(concurrent_service_syncs), "N",
     "services reconciled at once (propagation and service-dns each)", "10", NULL, NULL},
    {"concurrent-replicaset-syncs", 0, KF_FLAG_INT, 0, OFF(concurrent_replicaset_syncs), "N",
     "objects of each other propagated type reconciled at once", "10", NULL, NULL},
    {"concurrent-job-syncs", 0, KF_FLAG_INT, 0, OFF(concurrent_job_syncs), "N", "jobs reconciled at once", "10", NULL,
     NULL},
    {"hpa-scale-forbidden-window", 0, KF_FLAG_DURATION, 0, OFF(hpa_scale_forbidden_window_ms), "DURATION",
     "how long after a member HPA scaled its replicas stay where they are", "2m", NULL, NULL},
    IGNORED("cluster-monitor-period", KF_FLAG_DURATION, "DURATION", "the operator probes members"),
    IGNORED("federated-api-qps", KF_FLAG_STRING, "QPS", "requests are paced by the servers' 429s"),
    IGNORED("federated-api-burst", KF_FLAG_INT, "N", "requests are paced by the servers' 429s"),
    IGNORED("federation-only-namespace", KF_FLAG_STRING, "NS",
            "the Lease lives in " API_FEDERATION_SYSTEM " of the federation API"),
    IGNORED("port", KF_FLAG_INT, "PORT", "see --health-bind-address and --metrics-bind-address"),
    IGNORED("address", KF_FLAG_STRING, "ADDR", "see --health-bind-address and --metrics-bind-address"),
    IGNORED("profiling", KF_FLAG_BOOL, NULL, "no profiling endpoints are served"),
    IGNORED("contention-profiling", KF_FLAG_BOOL, NULL, "no profiling endpoints are served"),
    IGNORED("kube-api-content-type", KF_FLAG_STRING, "TYPE", "requests are JSON"),
    IGNORED("v", KF_FLAG_INT, "LEVEL", "see --log-level"),
};

const kf_flag *cm_options_flags(size_t *n) {
  *n = sizeof(FLAGS) / sizeof(FLAGS[0]);
  return FLAGS;
}

int cm_options_check_args(const char *const *args, size_t n, kf_error *err) {
  size_t nflags;
  const kf_flags fs = {cm_options_flags(&nflags), nflags, 0, 0, NULL};
  cm_options o;
  memset(&o, 0, sizeof(o));
  char **argv = kf_calloc(n + 2, sizeof(char *));
  argv[0] = (char *)API_CONTROLLER_MANAGER;
  for (size_t i = 0; i < n; i++) argv[i + 1] = (char *)args[i];
  int npos = 0, rc = kf_flags_parse(&fs, &o, (int)n + 1, argv, NULL, 0, &npos, err);
  free(argv);
  if (rc == 0 && npos > 0) rc = kf_error_set(err, -EINVAL, "%s takes no arguments, only flags", API_CONTROLLER_MANAGER);
  return rc == 0 ? cm_options_check(&o, err) : rc;
}

int cm_options_check(const cm_options *o, kf_error *err) {
  int rc = kf_manager_check(&o->m, err);
  if (rc != 0) return rc;
  if (o->concurrent_service_syncs < 1 || o->concurrent_replicaset_syncs < 1 || o->concurrent_job_syncs < 1)
    return kf_error_set(err, -EINVAL, "--concurrent-*-syncs must be at least 1");
  return 0;
}
