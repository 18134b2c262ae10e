/* kubefed-operator: the Federation and FederatedCluster controllers on the
 * runtime's manager (signals, drain, leader election, /healthz /readyz
 * /metrics). This file is the flag table, the identity and the wiring. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "federatedcluster/federatedcluster.h"
#include "federation/federation.h"
#include <kf/flags.h>
#include <kf/manager.h>
#include <kubefed/api.h>

typedef struct op_flags {
  kf_manager_opts m;
  const char *access;   /* NULL: service in cluster, endpoint with a kubeconfig */
  const char *cm_image; /* NULL: only spec.controllerManager.image names one */
} op_flags;

static const char *const ACCESS_MODES[] = {"service", "endpoint", NULL};

/* The order is the order of --help. */
static const kf_flag FLAGS[] = {
    KF_MANAGER_FLAGS(offsetof(op_flags, m), API_OPERATOR),
    {"federation-api-access", 0, KF_FLAG_ENUM, 0, offsetof(op_flags, access), NULL,
     "how to reach each federation's API server for its bootstrap: its Service (https://F-apiserver.NS.svc) or "
     "status.endpoint (default: service in cluster, endpoint with --kubeconfig)",
     NULL, ACCESS_MODES, NULL},
    {"controller-manager-image", 0, KF_FLAG_STRING, 0, offsetof(op_flags, cm_image), "IMAGE",
     "the image of each federation's kubefed-controller-manager Deployment when its spec.controllerManager.image "
     "is empty: an image of this operator, which ships the program (the Helm chart sets its own image). Without "
     "either a Federation gets no controller manager (ControllerManagerReady=False, NoImage)",
     NULL, NULL, NULL},
};

static const char SYNOPSIS[] = "Usage: " API_OPERATOR " [flags]\n\n"
                               "Reconciles Federation and FederatedCluster resources (" API_GROUP_VERSION ").\n\n";

/* The controllers as runnables: caches (the manager's shared informers) on every replica,
 * reconciling on the leader. Close lets running reconciles finish, then reports. */
static int fed_synced(const void *f) { return fed_controller_synced(f); }
static void fed_start(void *f) { fed_controller_start(f); }
static void fed_close(void *f, kf_manager_done_cb done, void *arg) { fed_controller_close(f, done, arg); }
static int fc_synced(const void *f) { return fc_controller_synced(f); }
static void fc_start(void *f) { fc_controller_start(f); }
static void fc_close(void *f, kf_manager_done_cb done, void *arg) { fc_controller_close(f, done, arg); }

int main(int argc, char **argv) {
  op_flags fl = {.m = {.program = API_OPERATOR,
                       .version = KF_VERSION,
                       .field_manager = API_OPERATOR,
                       .metrics_prefix = "kubefed_",
                       .event_controller = API_EVENT_CONTROLLER}};
  const kf_flags fs = {FLAGS, sizeof(FLAGS) / sizeof(FLAGS[0]), 0, KF_FLAGS_HELP | KF_FLAGS_VERSION,
                       "see " API_OPERATOR " --help"};
  kf_manager *m;
  kf_error err;
  int rc;

  kf_error_clear(&err);
  if ((rc = kf_flags_main(&fs, &fl, argc, argv, API_OPERATOR, KF_VERSION, SYNOPSIS)) != KF_FLAGS_GO_ON) return rc;
  if (kf_manager_check(&fl.m, &err) != 0) {
    fprintf(stderr, "%s: %s\n", API_OPERATOR, err.msg);
    return 2;
  }
  if (kf_manager_new(&fl.m, &m, &err) != 0) {
    fprintf(stderr, "%s: %s\n", API_OPERATOR, err.msg);
    return 1;
  }

  /* The benchmark's requests by target: host (this client), member and federation (the registries'). */
  kc_client_set_metrics_target(kf_manager_client(m), "host");
  /* In the host cluster the Service is reachable; from outside only the published endpoint is. */
  fed_options fo = {.namespace_ = kf_manager_namespace(m),
                    .access = fl.access
                                  ? (strcmp(fl.access, "endpoint") == 0 ? FED_ACCESS_ENDPOINT : FED_ACCESS_SERVICE)
                              : kf_manager_in_cluster(m) ? FED_ACCESS_SERVICE
                                                         : FED_ACCESS_ENDPOINT,
                    .metrics = kf_manager_metrics(m),
                    .events = kf_manager_events(m),
                    .informers = kf_manager_informers(m),
                    .cm_image = fl.cm_image};
  fed_controller *fed = fed_controller_new(kf_manager_loop(m), kf_manager_client(m), &fo);
  fc_controller *fc = fc_controller_new(kf_manager_loop(m), kf_manager_client(m), &fo);
  const kf_runnable runnables[] = {
      {"federation", fed, NULL, fed_synced, fed_start, fed_close},
      {"federatedcluster", fc, NULL, fc_synced, fc_start, fc_close},
  };
  for (size_t i = 0; i < sizeof(runnables) / sizeof(runnables[0]); i++)
    if (kf_manager_add(m, &runnables[i], &err) != 0) {
      fprintf(stderr, "%s: %s\n", API_OPERATOR, err.msg);
      kf_manager_free(m);
      return 1;
    }

  rc = kf_manager_run(m);
  if (rc == 0) kf_manager_free(m); /* after losing the lease: exit now, handles and all */
  return rc;
}
