/* kcfg_incluster: the configuration of a pod's service account (client-go's InClusterConfig), and
 * the token's re-read from its file: the kubelet rotates a projected token, and the client reads
 * it again before a request once KC_TOKEN_REFRESH_MS have passed (kc.c). Messages name paths,
 * never token material. */
#include <kf/kcfg.h>

#include "kcfg_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KCFG_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

int kcfg_load_in_cluster(kcfg **out, kf_error *err) {
  const char *host = getenv("KUBERNETES_SERVICE_HOST");
  const char *port = getenv("KUBERNETES_SERVICE_PORT");
  const char *dir = getenv("KF_SERVICEACCOUNT_DIR");
  char *path = NULL, *buf = NULL;
  size_t len = 0, plen;
  kcfg *cfg;
  int rc;

  if (!out) return kf_error_set(err, -EINVAL, "kcfg_load_in_cluster: out is NULL");
  *out = NULL;
  if (!host || !*host || !port || !*port)
    return kf_error_set(err, -ENOENT,
                        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                        "must be set (is the operator running in a pod?)");
  plen = strlen(port);
  if (plen > 5 || strspn(port, "0123456789") != plen || atoi(port) < 1 || atoi(port) > 65535)
    return kf_error_set(err, -EINVAL, "in-cluster config: KUBERNETES_SERVICE_PORT is not a port number");
  if (strpbrk(host, "/@?#[] \t\r\n"))
    return kf_error_set(err, -EINVAL, "in-cluster config: KUBERNETES_SERVICE_HOST is not a host name or address");
  if (!dir || !*dir) dir = KCFG_SA_DIR;

  cfg = kf_calloc(1, sizeof(*cfg));
  cfg->context = kf_strdup("in-cluster");
  cfg->cluster = kf_strdup("in-cluster");
  cfg->user = kf_strdup("in-cluster");
  /* An IPv6 literal needs brackets in a URL, or its colons read as a port. */
  cfg->server = strchr(host, ':') ? kf_asprintf("https://[%s]:%s", host, port)
                                  : kf_asprintf("https://%s:%s", host, port);

  cfg->token_file = kcfg__join(dir, "token");
  if ((rc = kcfg_refresh_token(cfg, err)) < 0) {
    if (err) {
      char m[sizeof(err->msg)];
      memcpy(m, err->msg, sizeof(m));
      kf_error_set(err, rc, "in-cluster config: %s", m);
    }
    goto fail;
  }

  path = kcfg__join(dir, "ca.crt");
  rc = kcfg_read_file(path, KCFG_MAX_BYTES, false, &cfg->ca_pem, &cfg->ca_pem_len);
  if (rc < 0) {
    kf_error_set(err, rc, "in-cluster config: cannot read the service-account CA %.200s: %s", path, strerror(-rc));
    goto fail;
  }
  if (!kcfg__has_pem(cfg->ca_pem, cfg->ca_pem_len)) {
    rc = kf_error_set(err, -EINVAL, "in-cluster config: %.200s does not contain PEM data", path);
    goto fail;
  }
  free(path);

  path = kcfg__join(dir, "namespace");
  rc = kcfg_read_file(path, 4096, false, &buf, &len);
  if (rc < 0 && rc != -ENOENT) {
    kf_error_set(err, rc, "in-cluster config: cannot read %.200s: %s", path, strerror(-rc));
    goto fail;
  }
  if (buf) len = kcfg__trim(buf, len);
  cfg->namespace_ = kf_strdup(buf && len > 0 ? buf : "default");
  free(buf);
  free(path);
  *out = cfg;
  return 0;
fail:
  kcfg__sanitize(err);
  free(path);
  kcfg_free(cfg);
  return rc;
}

int kcfg_refresh_token(kcfg *cfg, kf_error *err) {
  char *buf;
  size_t len;
  int rc;

  if (!cfg) return kf_error_set(err, -EINVAL, "kcfg_refresh_token: cfg is NULL");
  if (!cfg->token_file) return 0;
  rc = kcfg_read_file(cfg->token_file, KCFG_MAX_BYTES, true, &buf, &len);
  if (rc < 0) {
    kf_error_set(err, rc, "cannot read token file %.200s: %s", cfg->token_file, strerror(-rc));
    kcfg__sanitize(err);
    return rc; /* the previous token, if any, stays in use */
  }
  len = kcfg__trim(buf, len);
  if (!kcfg__token_ok(buf, len)) {
    kf_free_secret(buf, len + 1);
    kf_error_set(err, -EINVAL, "token file %.200s is empty or contains blanks or control characters", cfg->token_file);
    kcfg__sanitize(err);
    return -EINVAL;
  }
  if (cfg->token && strcmp(cfg->token, buf) == 0) {
    kf_free_secret(buf, len + 1);
    return 0;
  }
  if (cfg->token) kf_free_secret(cfg->token, strlen(cfg->token) + 1);
  cfg->token = buf;
  return 0;
}
