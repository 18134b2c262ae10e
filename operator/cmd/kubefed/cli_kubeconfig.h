/* cli_kubeconfig: the kubefed CLI's view of the user's kubeconfig file(s).
 *
 * Which file: --kubeconfig, else each file of $KUBECONFIG (':'-separated) in order, else
 * ~/.kube/config. A context is read from the first file that defines it (kcfg_load_file
 * then checks it holds static credentials only). Writes go to --kubeconfig, else the first
 * file of $KUBECONFIG, else ~/.kube/config, as kubectl does for new entries.
 *
 * The file is edited as JSON (parsed with kf_yaml_to_json) and written back as YAML,
 * atomically (a temporary file renamed over it, mode 0600, under kubectl's PATH.lock),
 * with every entry it had kept in order. */
#ifndef KF_CLI_KUBECONFIG_H
#define KF_CLI_KUBECONFIG_H

#include <json-c/json.h>

#include <kf/error.h>

/* Reads a whole regular file (at most max bytes) into a NUL-terminated malloc'd buffer.
 * -EFBIG when larger, the negative errno of a failed open or read. The caller wipes the
 * buffer when it may hold a secret (kf_free_secret). */
int cli_read_file(const char *path, size_t max, char **out, size_t *len, kf_error *err);

/* The file to read context (NULL: current-context) from, malloc'd. With a $KUBECONFIG
 * list the first file that defines the context (or sets current-context) wins; when none
 * does, the first file (so the error names it). */
char *cli_kubeconfig_read_path(const char *flag, const char *context);
/* The file new entries are written to, malloc'd. */
char *cli_kubeconfig_write_path(const char *flag);

/* Parses the kubeconfig at path into *out (a JSON object). A missing or empty file is an
 * empty Config when missing_ok, else -ENOENT. */
int cli_kubeconfig_read(const char *path, int missing_ok, json_object **out, kf_error *err);

/* The context's cluster, user and context only, as a new self-contained kubeconfig:
 * certificate-authority, client-certificate, client-key and tokenFile (relative paths
 * against base_dir) inlined as certificate-authority-data, client-certificate-data,
 * client-key-data and token; current-context set to context. exec and auth-provider
 * users are refused (-ENOTSUP), an unknown context, cluster or user is -ENOENT. */
int cli_kubeconfig_minify(json_object *cfg, const char *base_dir, const char *context, json_object **out,
                          kf_error *err);

/* Adds (or replaces) cluster, user and context `name` in cfg from the current context of
 * admin (a federation's admin kubeconfig), context {cluster: name, user: name}, as
 * kubefed init did. current-context and every other entry are left as they are. */
int cli_kubeconfig_add(json_object *cfg, const char *name, json_object *admin, kf_error *err);

/* Writes cfg to path as YAML: PATH.lock taken (waiting up to 2 s; kubectl does not wait at
 * all), a temporary file in the same directory with mode 0600, fsync, rename over path (a
 * symlink's target is replaced, the link kept). */
int cli_kubeconfig_write(const char *path, json_object *cfg, kf_error *err);

#endif
