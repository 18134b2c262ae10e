/* cli_flags: the kubefed CLI's command line (kubefed v1's flag names) and the objects
 * each command stands for, as pure functions the unit tests check whole.
 *
 * Flags are parsed as Go's pflag did for kubefed: --name=value or --name value for
 * strings, --name or --name=true|false for booleans, -o yaml / -oyaml / --output=yaml,
 * flags before or after the positional argument, "--" ends the flags. One table holds
 * every flag, so parsing and --help cannot disagree. */
#ifndef KF_CLI_FLAGS_H
#define KF_CLI_FLAGS_H

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>

#include <kf/error.h>
#include <kubefed/api.h>

#define CLI_DNS_CONFIG_KEY "provider.conf"
#define CLI_KUBECONFIG_KEY "kubeconfig"
#define CLI_DEFAULT_NAMESPACE "federation-system"
#define CLI_DEFAULT_TIMEOUT_MS (5ull * 60 * 1000)

/* Exit codes a script can rely on. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_API = 1, CLI_EXIT_USAGE = 2, CLI_EXIT_TIMEOUT = 3 };

typedef enum { CLI_NONE = 0, CLI_INIT, CLI_JOIN, CLI_UNJOIN, CLI_VERSION, CLI_HELP } cli_cmd;

/* Strings are borrowed from argv. NULL (strings) or -1 (booleans, numbers) means not given. */
typedef struct cli_opts {
  cli_cmd cmd;
  cli_cmd help_for; /* CLI_HELP: the command whose usage to print (CLI_NONE: the top level) */
  const char *name; /* FEDERATION (init) or CLUSTER (join, unjoin) */
  /* every command */
  const char *kubeconfig, *host_context, *namespace_;
  int dry_run;
  const char *output;  /* "yaml", "json" or NULL */
  uint64_t timeout_ms; /* 0: no limit */
  /* init */
  const char *dns_provider, *dns_zone, *dns_provider_config, *coredns_nameservers;
  const char *image, *apiserver_image, *cm_image, *etcd_image;
  int etcd_persistent;
  const char *etcd_pv_capacity, *etcd_pv_storage_class, *etcd_servers, *etcd_tls_secret;
  const char *apiserver_overrides, *cm_overrides;
  const char *service_type, *advertise_address;
  long api_port;
  int token_auth;
  const char *token_auth_secret;
  int basic_auth;
  const char *node_selector, *pull_policy, *pull_secrets;
  /* join / unjoin */
  const char *cluster_context, *secret_name, *federation;
} cli_opts;

/* Parses argv (argv[0] is the program) into o. Returns 0, or -EINVAL with a message for a
 * usage error (exit code 2); `--apiserver-enable-basic-auth` is such an error, explained.
 * Checks every value that can be checked without a cluster (names, enums, combinations). */
int cli_parse(int argc, char **argv, cli_opts *o, kf_error *err);

/* The usage text of cmd (CLI_NONE: the top level). */
void cli_usage(FILE *out, cli_cmd cmd);

/* kubefed's "--a=b,--c=d" overrides: split on ',', then on the first '=', both sides trimmed,
 * leading dashes of the key stripped. Returns a new object key -> value or NULL with err set. */
json_object *cli_parse_overrides(const char *flag, const char *s, kf_error *err);

/* "k=v,k2=v2" to an object, or NULL with err set. */
json_object *cli_parse_map(const char *flag, const char *s, kf_error *err);

/* coredns-endpoints of the [Global] section of a gcfg DNS provider config (kubefed v1's
 * coredns.Config), as a new array of "host:port" strings; NULL when absent. */
json_object *cli_coredns_endpoints(const char *conf, size_t len);

/* A ','-separated list, items trimmed, empty items dropped (a new array). */
json_object *cli_list(const char *s);
/* A --coredns-nameservers entry the CRD accepts (its corednsNameservers rules), so a dry run
 * prints nothing the API server refuses. */
int cli_nameserver_ok(const char *s);

/* cli_objects.c. The objects `kubefed init` applies, in order: the DNS provider config Secret (when
 * --dns-provider-config) and the Federation. Reads the provider config file. -EINVAL
 * (usage, exit 2) for what only the file can tell, other codes for an unreadable file. */
int cli_init_objects(const cli_opts *o, json_object **objs, kf_error *err);

/* The Secret name join stores the member kubeconfig in: CLUSTER-kubeconfig. */
char *cli_join_secret_name(const char *cluster);

/* The objects `kubefed join` applies: the Secret CLUSTER-kubeconfig holding kubeconfig
 * (a minified kubeconfig, see cli_kubeconfig_minify) and the FederatedCluster. */
int cli_join_objects(const cli_opts *o, const char *federation, json_object *kubeconfig, json_object **objs,
                     kf_error *err);

/* Prints objs as YAML documents separated by "---" (format "yaml") or a v1 List (json).
 * Secret values are never printed: each is replaced by "<redacted: N bytes>", which is
 * not base64, so applying the output fails loudly instead of storing something else. */
int cli_print_objects(FILE *out, json_object *objs, const char *format, kf_error *err);

/* The RFC 1035 label test the CRDs apply to Federation and FederatedCluster names. */
int cli_is_dns1035_label(const char *s, size_t max);
/* RFC 1123 subdomain (Secret names). */
int cli_is_dns1123_subdomain(const char *s);

#endif
