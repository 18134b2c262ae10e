/* kcfg: where an API server is and how to authenticate to it.
 *
 * Loaded from a kubeconfig (parsed with libyaml) or from the in-cluster
 * service-account environment. Only static credentials are supported: exec and
 * auth-provider users are refused with an error naming the context, because an
 * operator cannot run a user's login plugin. insecure-skip-tls-verify is refused
 * too: TLS is always verified. */
#ifndef KF_KCFG_H
#define KF_KCFG_H

#include <stdbool.h>
#include <stddef.h>

#include <kf/error.h>

typedef struct kcfg {
  char *context;         /* context name used ("in-cluster" for in-cluster config) */
  char *cluster;         /* cluster name the context points at */
  char *user;            /* user name the context points at */
  char *server;          /* https://host:port, without trailing slash */
  char *namespace_;      /* the context's namespace, "default" when unset */
  char *tls_server_name; /* optional SNI / verification name override */
  /* PEM buffers are NUL-terminated; the *_len fields exclude the NUL. */
  char *ca_pem; /* CA bundle, PEM bytes (from -data or the file); NULL: system CAs */
  size_t ca_pem_len;
  char *client_cert_pem; /* client certificate, PEM, NUL-terminated, or NULL */
  size_t client_cert_pem_len;
  char *client_key_pem; /* client key, PEM, NUL-terminated, or NULL; wiped on free */
  size_t client_key_pem_len;
  char *token;      /* bearer token or NULL; wiped on free */
  char *token_file; /* when set, token is re-read from here by kcfg_refresh_token */
} kcfg;

/* Loads the kubeconfig at path. context NULL or "" selects current-context.
 * Relative file paths inside it resolve against the kubeconfig's directory.
 * Errors name the file and the context: -ENOENT (file, context, cluster or user
 * missing), -ENOTSUP (exec, auth-provider, basic auth, impersonation,
 * insecure-skip-tls-verify), -EFBIG (too large), -EINVAL (malformed), or the
 * negative errno of a failed read. */
int kcfg_load_file(const char *path, const char *context, kcfg **out, kf_error *err);

/* Same, from bytes (e.g. a Secret's value). base_dir resolves relative paths;
 * NULL means file references are refused (a Secret must be self-contained). */
int kcfg_load_data(const char *data, size_t len, const char *base_dir, const char *context, kcfg **out, kf_error *err);

/* In-cluster config: KUBERNETES_SERVICE_HOST/PORT, token and ca.crt under
 * $KF_SERVICEACCOUNT_DIR (default /var/run/secrets/kubernetes.io/serviceaccount),
 * namespace from its namespace file. */
int kcfg_load_in_cluster(kcfg **out, kf_error *err);

/* Re-reads token_file if set (bound service-account tokens rotate). 0 when unchanged or updated. */
int kcfg_refresh_token(kcfg *cfg, kf_error *err);

/* Reads at most max bytes of path into a NUL-terminated buffer (free it with free, or with
 * kf_free_secret(*out, *out_len + 1) when secret). Bytes past *out_len are zero, so wiping
 * *out_len + 1 bytes wipes everything read; when secret, intermediate buffers are wiped as the
 * buffer grows (never realloc: it may leave an unwiped copy of a key behind). Returns 0,
 * -EFBIG past max, or -errno. */
int kcfg_read_file(const char *path, size_t max, bool secret, char **out, size_t *out_len);

/* Deep copy. */
kcfg *kcfg_dup(const kcfg *cfg);

void kcfg_free(kcfg *cfg);

#endif
