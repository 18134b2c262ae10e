/* cm_options: kubefed-controller-manager's command line, in the API because two programs read
 * it: the controller manager parses it, and the operator checks a Federation's
 * spec.controllerManager.extraArgs against the same table before it puts them in a Deployment
 * (a flag the program would refuse becomes a condition, not a crash-looping pod).
 *
 * The flags are kubefed v1's federation-controller-manager's (every one accepted; those with no
 * meaning here are accepted with a warning, see cm_options.ignored) plus the runtime manager's
 * health, metrics, log and leader-election flags. */
#ifndef KUBEFED_CM_OPTIONS_H
#define KUBEFED_CM_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include <kf/error.h>
#include <kf/flags.h>
#include <kf/manager.h>

#define API_CONTROLLER_MANAGER "kubefed-controller-manager"
#define API_CM_EVENT_CONTROLLER "kubefed.dev/kubefed-controller-manager"
/* Where the controller manager's Lease and the members' credential Secrets live, in the
 * federation API (kubefed v1's namespace of the same name). */
#define API_FEDERATION_SYSTEM "federation-system"

/* The controllers --controllers names, kubefed v1's keys first. */
typedef enum {
  CM_SERVICES,
  CM_SERVICE_DNS,
  CM_CONFIGMAPS,
  CM_SECRETS,
  CM_NAMESPACES,
  CM_DAEMONSETS,
  CM_DEPLOYMENTS,
  CM_REPLICASETS,
  CM_HPAS,
  CM_JOBS,
  CM_INGRESSES,
  CM_SERVICEACCOUNTS,
  CM_STATEFULSETS,
  CM_N_CONTROLLERS
} cm_controller;

extern const char *const cm_controller_names[CM_N_CONTROLLERS];

/* --controllers name=true|false: what the user asked for, before discovery. */
typedef enum { CM_DEFAULT = 0, CM_ON, CM_OFF } cm_switch;

#define CM_MAX_IGNORED 16

typedef struct cm_options {
  kf_manager_opts m;
  const char *federation_name;
  const char *federation_uid; /* the host Federation's metadata.uid: our label on member copies */
  const char *zone_name, *zone_id, *service_dns_suffix;
  const char *dns_provider, *dns_provider_config;
  cm_switch controllers[CM_N_CONTROLLERS];
  long concurrent_service_syncs, concurrent_replicaset_syncs, concurrent_job_syncs;
  uint64_t hpa_scale_forbidden_window_ms;
  /* v1 flags that mean nothing here, in the order given: main warns once about each. */
  const char *ignored[CM_MAX_IGNORED];
  size_t n_ignored;
  union {
    long l;
    uint64_t u;
    int i;
    const char *s;
  } scratch; /* where an ignored flag's value is parsed (so a malformed one is still refused) */
} cm_options;

/* The table (kf_flags) with its length; options start zeroed but for their identity. */
const kf_flag *cm_options_flags(size_t *n);

/* Checks args (a Deployment's "--name=value" strings) as the program would parse them: 0, or
 * -EINVAL with the program's own message. Used by the operator for extraArgs. */
int cm_options_check_args(const char *const *args, size_t n, kf_error *err);

/* The options' meaning once parsed: the manager's rules, and what needs no cluster (e.g. the
 * DNS flags service-dns needs). 0 or -EINVAL with the message (exit 2). */
int cm_options_check(const cm_options *o, kf_error *err);

#endif
