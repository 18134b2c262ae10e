/* kubefed: kubefed v1's init / join / unjoin commands, with its flags, as kubefed-operator
 * resources. init applies a Federation (and its DNS provider config Secret), waits for the
 * operator to report it Ready and adds the federation's context to the local kubeconfig;
 * join stores the member's minified kubeconfig in a Secret and applies a FederatedCluster;
 * unjoin deletes the FederatedCluster and waits until the operator has removed the member.
 *
 * Exit codes: 0 done, 1 API or cluster error, 2 usage error, 3 timed out. Messages go to
 * stderr prefixed "kubefed: "; no Secret value, token or key is ever printed. */
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kf/b64.h>
#include <kf/cond.h>
#include "cli_api.h"
#include "cli_flags.h"
#include "cli_kubeconfig.h"
#include <kf/kj.h>
#include <kf/log.h>
#include <kf/yaml.h>

#define KF_POLL_MS 1000

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("kubefed: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* The exit code of a failed API call. */
static int api_exit(cli_api *a, int rc) {
  if (a->timed_out || (rc == KC_ERR_TIMEOUT && a->deadline && cli_api_remaining(a) == 0)) return CLI_EXIT_TIMEOUT;
  return CLI_EXIT_API;
}

/* The exit code of a kubeconfig problem: a context that is missing or cannot be used is a
 * bad flag; an unreadable file is not. */
static int kubeconfig_exit(int rc) {
  return (rc == -ENOTSUP || rc == -ENOENT || rc == -EINVAL) ? CLI_EXIT_USAGE : CLI_EXIT_API;
}

static void fmt_duration(uint64_t ms, char *buf, size_t size) {
  uint64_t s = ms / 1000;
  if (s >= 3600)
    snprintf(buf, size, "%lluh%llum%llus", (unsigned long long)(s / 3600), (unsigned long long)(s % 3600 / 60),
             (unsigned long long)(s % 60));
  else if (s >= 60) snprintf(buf, size, "%llum%llus", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
  else snprintf(buf, size, "%llu.%03llus", (unsigned long long)s, (unsigned long long)(ms % 1000));
}

static int open_host(cli_api *a, const cli_opts *o) {
  kf_error err;
  char *path = cli_kubeconfig_read_path(o->kubeconfig, o->host_context);
  int rc = cli_api_open(a, path, o->host_context, o->timeout_ms, &err);
  free(path);
  if (rc != 0) {
    say("host cluster (--host-cluster-context%s%s): %s", o->host_context ? "=" : " not set: current context",
        o->host_context ? o->host_context : "", err.msg);
    return kubeconfig_exit(rc);
  }
  return 0;
}

/* ---- conditions ----------------------------------------------------------------------------- */

static json_object *conditions(json_object *obj) {
  json_object *c = kc_obj_get(obj, "status.conditions");
  return c && json_object_is_type(c, json_type_array) ? c : NULL;
}

/* Ready True for the spec we applied (observedGeneration caught up). */
static int is_ready(json_object *obj) {
  json_object *gen = kc_obj_get(obj, "metadata.generation"), *og = kc_obj_get(obj, "status.observedGeneration");
  if (gen && (!og || json_object_get_int64(og) < json_object_get_int64(gen))) return 0;
  const char *s = kc_obj_str(cond_find(obj, "Ready"), "status");
  return s && strcmp(s, "True") == 0;
}

static void print_condition(const char *what, json_object *e) {
  const char *msg = kc_obj_str(e, "message");
  say("%s: %s=%s (%s)%s%s", what, kc_obj_str(e, "type") ? kc_obj_str(e, "type") : "?",
      kc_obj_str(e, "status") ? kc_obj_str(e, "status") : "?", kc_obj_str(e, "reason") ? kc_obj_str(e, "reason") : "",
      msg && msg[0] ? ": " : "", msg ? msg : "");
}

/* Prints the conditions that changed since the last call (seen: type -> text). */
static void print_changes(const char *what, json_object *obj, json_object *seen) {
  json_object *c = conditions(obj);
  for (size_t i = 0; c && i < json_object_array_length(c); i++) {
    json_object *e = json_object_array_get_idx(c, i);
    const char *t = kc_obj_str(e, "type");
    if (!t) continue;
    char *text = kf_asprintf("%s|%s|%s", kc_obj_str(e, "status") ? kc_obj_str(e, "status") : "",
                             kc_obj_str(e, "reason") ? kc_obj_str(e, "reason") : "",
                             kc_obj_str(e, "message") ? kc_obj_str(e, "message") : "");
    const char *old = kc_obj_key_str(seen, t);
    if (!old || strcmp(old, text) != 0) {
      print_condition(what, e);
      kj_str(seen, t, text);
    }
    free(text);
  }
}

static void print_all(const char *what, json_object *obj) {
  json_object *c = conditions(obj);
  if (!c || json_object_array_length(c) == 0) {
    say("%s: no conditions yet (is kubefed-operator running and watching namespace %s?)", what,
        kc_obj_str(obj, "metadata.namespace") ? kc_obj_str(obj, "metadata.namespace") : "?");
    return;
  }
  for (size_t i = 0; i < json_object_array_length(c); i++) print_condition(what, json_object_array_get_idx(c, i));
}

/* Polls res ns/name until it is Ready (want_gone 0) or gone (want_gone 1). Returns an exit
 * code; on success *last is the last object read (NULL when gone). */
static int wait_for(cli_api *a, const cli_opts *o, const kc_resource *res, const char *name, int want_gone,
                    json_object **last) {
  json_object *seen = kj_obj(), *obj = NULL;
  char what[512], transient[sizeof(((kf_error *)0)->msg)] = "";
  int code = CLI_EXIT_OK;
  snprintf(what, sizeof(what), "%s %s/%s", res->kind, o->namespace_, name);
  *last = NULL;
  for (;;) {
    kf_error err;
    json_object *cur = NULL;
    int rc = cli_api_get(a, res, o->namespace_, name, &cur, &err);
    if (rc == 0) {
      if (obj) json_object_put(obj);
      obj = cur;
      print_changes(what, obj, seen);
      if (!want_gone && is_ready(obj)) break;
    } else if (rc == KC_ERR_NOTFOUND) {
      if (want_gone) {
        if (obj) json_object_put(obj);
        obj = NULL;
        break;
      }
      say("%s was deleted while waiting for it to be Ready", what);
      code = CLI_EXIT_API;
      break;
    } else if (a->timed_out) {
      rc = KC_ERR_TIMEOUT;
    } else if (rc == KC_ERR_UNREACHABLE || rc == KC_ERR_SERVER || rc == KC_ERR_THROTTLED || rc == KC_ERR_TIMEOUT) {
      if (strcmp(transient, err.msg) != 0) say("%s: %s (retrying)", what, err.msg);
      snprintf(transient, sizeof(transient), "%s", err.msg);
    } else {
      say("reading %s: %s", what, err.msg);
      code = CLI_EXIT_API;
      break;
    }
    if (rc == KC_ERR_TIMEOUT || cli_api_sleep(a, KF_POLL_MS) != 0) {
      char d[64];
      fmt_duration(o->timeout_ms, d, sizeof(d));
      say("timed out after %s (--timeout) waiting for %s to be %s; its last conditions:", d, what,
          want_gone ? "deleted" : "Ready");
      if (obj) print_all(what, obj);
      else say("%s: not read yet", what);
      code = CLI_EXIT_TIMEOUT;
      break;
    }
  }
  json_object_put(seen);
  if (code == CLI_EXIT_OK) *last = obj;
  else if (obj) json_object_put(obj);
  return code;
}

/* ---- shared steps ---------------------------------------------------------------------------- */

static int apply_all(cli_api *a, json_object *objs, int64_t *last_generation) {
  for (size_t i = 0; i < json_object_array_length(objs); i++) {
    json_object *obj = json_object_array_get_idx(objs, i), *out = NULL;
    const char *kind = kc_obj_str(obj, "kind");
    const kc_resource *res = strcmp(kind, "Secret") == 0       ? &KC_SECRETS
                             : strcmp(kind, "Federation") == 0 ? &API_FEDERATIONS
                                                               : &API_FEDERATEDCLUSTERS;
    kf_error err;
    int rc = cli_api_apply(a, res, obj, &out, &err);
    if (rc != 0) {
      say("applying %s %s/%s: %s", kind, kc_obj_str(obj, "metadata.namespace"), kc_obj_str(obj, "metadata.name"),
          err.msg);
      if (rc == KC_ERR_NOTFOUND && res != &KC_SECRETS)
        say("is the %s CRD installed on the host cluster? (kubectl apply -f crds/)", kind);
      return api_exit(a, rc);
    }
    json_object *gen = kc_obj_get(out, "metadata.generation");
    if (last_generation && gen) *last_generation = json_object_get_int64(gen);
    printf("%s/%s %s\n",
           strcmp(kind, "Secret") == 0       ? "secret"
           : strcmp(kind, "Federation") == 0 ? "federation.kubefed.dev"
                                             : "federatedcluster.kubefed.dev",
           kc_obj_str(obj, "metadata.name"), "serverside-applied");
    fflush(stdout);
    json_object_put(out);
  }
  return 0;
}

static int print_dry_run(const cli_opts *o, json_object *objs) {
  kf_error err;
  if (o->output) {
    if (cli_print_objects(stdout, objs, o->output, &err) != 0) {
      say("%s", err.msg);
      return CLI_EXIT_API;
    }
    return 0;
  }
  for (size_t i = 0; i < json_object_array_length(objs); i++) {
    json_object *obj = json_object_array_get_idx(objs, i);
    printf("%s %s/%s (dry run)\n", kc_obj_str(obj, "kind"), kc_obj_str(obj, "metadata.namespace"),
           kc_obj_str(obj, "metadata.name"));
  }
  return 0;
}

static int ensure_namespace(cli_api *a, const char *ns) {
  kf_error err;
  int rc = cli_api_get(a, &KC_NAMESPACES, NULL, ns, NULL, &err);
  if (rc == 0) return 0;
  if (rc == KC_ERR_NOTFOUND) {
    json_object *obj = kj_set(kj_str(kj_str(kj_obj(), "apiVersion", "v1"), "kind", "Namespace"), "metadata",
                              kj_str(kj_obj(), "name", ns));
    rc = cli_api_create(a, &KC_NAMESPACES, NULL, obj, NULL, &err);
    json_object_put(obj);
    if (rc == 0 || rc == KC_ERR_EXISTS) {
      if (rc == 0) printf("namespace/%s created\n", ns);
      return 0;
    }
  }
  say("namespace %s: %s", ns, err.msg);
  return api_exit(a, rc);
}

/* ---- init ------------------------------------------------------------------------------------- */

/* Adds the federation's admin credentials to the local kubeconfig as context NAME. */
static int add_context(cli_api *a, const cli_opts *o, json_object *fed) {
  const char *ref = kc_obj_str(fed, "status.kubeconfigSecretRef.name");
  const char *key = kc_obj_str(fed, "status.kubeconfigSecretRef.key");
  json_object *secret = NULL, *admin = NULL, *cfg = NULL;
  kf_error err;
  char *text = NULL, *path = NULL;
  size_t len = 0;
  int code = CLI_EXIT_API, rc;
  if (!key) key = CLI_KUBECONFIG_KEY;
  if (!ref) {
    say("Federation %s/%s is Ready but has no status.kubeconfigSecretRef", o->namespace_, o->name);
    return CLI_EXIT_API;
  }
  if ((rc = cli_api_get(a, &KC_SECRETS, o->namespace_, ref, &secret, &err)) != 0) {
    say("reading the admin kubeconfig Secret %s/%s: %s", o->namespace_, ref, err.msg);
    return api_exit(a, rc);
  }
  const char *b64 = kc_obj_key_str(kc_obj_get(secret, "data"), key);
  if (!b64 || kf_b64_decode(b64, strlen(b64), &text, &len) != 0) {
    say("Secret %s/%s has no valid key %s", o->namespace_, ref, key);
    goto out;
  }
  if (kf_yaml_to_json_one(text, len, &admin, &err) != 0) {
    say("Secret %s/%s key %s is not a kubeconfig: %s", o->namespace_, ref, key, err.msg);
    goto out;
  }
  path = cli_kubeconfig_write_path(o->kubeconfig);
  if (cli_kubeconfig_read(path, 1, &cfg, &err) != 0 || cli_kubeconfig_add(cfg, o->name, admin, &err) != 0 ||
      cli_kubeconfig_write(path, cfg, &err) != 0) {
    say("updating kubeconfig %s: %s", path, err.msg);
    goto out;
  }
  say("added cluster, user and context %s to %s (kubectl config use-context %s)", o->name, path, o->name);
  code = 0;
out:
  if (text) kf_free_secret(text, len + 1);
  if (secret) json_object_put(secret);
  if (admin) json_object_put(admin);
  if (cfg) json_object_put(cfg);
  free(path);
  return code;
}

static int cmd_init(const cli_opts *o) {
  json_object *objs = NULL, *fed = NULL;
  kf_error err;
  cli_api a = {0};
  int code, rc = cli_init_objects(o, &objs, &err);
  if (rc != 0) {
    say("%s", err.msg);
    return rc == -EINVAL || rc == -ENOENT || rc == -EISDIR || rc == -EFBIG ? CLI_EXIT_USAGE : CLI_EXIT_API;
  }
  if (o->dry_run) {
    code = print_dry_run(o, objs);
    if (!o->output && code == 0) printf("Federation control plane runs (dry run)\n");
    json_object_put(objs);
    return code;
  }
  if ((code = open_host(&a, o)) != 0) goto out;
  if ((code = ensure_namespace(&a, o->namespace_)) != 0) goto out;
  if ((code = apply_all(&a, objs, NULL)) != 0) goto out;
  say("waiting for Federation %s/%s to be Ready (kubefed-operator reconciles it)", o->namespace_, o->name);
  if ((code = wait_for(&a, o, &API_FEDERATIONS, o->name, 0, &fed)) != 0) goto out;
  if ((code = add_context(&a, o, fed)) != 0) goto out;
  const char *ep = kc_obj_str(fed, "status.endpoint");
  printf("Federation API server is running at: %s\n", ep ? ep : "(no endpoint in status)");
out:
  if (fed) json_object_put(fed);
  json_object_put(objs);
  cli_api_close(&a);
  return code;
}

/* ---- join --------------------------------------------------------------------------------------- */

/* The member's kubeconfig, minified to --cluster-context, or an exit code. */
static int member_kubeconfig(const cli_opts *o, json_object **out) {
  kf_error err;
  kcfg *cfg = NULL;
  json_object *full = NULL;
  char *path = cli_kubeconfig_read_path(o->kubeconfig, o->cluster_context);
  int rc = kcfg_load_file(path, o->cluster_context, &cfg, &err);
  *out = NULL;
  if (rc != 0) {
    say("--cluster-context=%s: %s", o->cluster_context, err.msg);
    free(path);
    return kubeconfig_exit(rc);
  }
  kcfg_free(cfg);
  if ((rc = cli_kubeconfig_read(path, 0, &full, &err)) == 0) {
    char *dir_buf = kf_strdup(path);
    rc = cli_kubeconfig_minify(full, dirname(dir_buf), o->cluster_context, out, &err);
    free(dir_buf);
    json_object_put(full);
  }
  free(path);
  if (rc != 0) {
    say("--cluster-context=%s: %s", o->cluster_context, err.msg);
    return kubeconfig_exit(rc);
  }
  return 0;
}

/* --federation, or the only Federation in the namespace. */
static int find_federation(cli_api *a, const cli_opts *o, char **out) {
  kf_error err;
  json_object *list = NULL;
  *out = NULL;
  if (o->federation) {
    int rc = cli_api_get(a, &API_FEDERATIONS, o->namespace_, o->federation, NULL, &err);
    if (rc == 0) {
      *out = kf_strdup(o->federation);
      return 0;
    }
    if (rc == KC_ERR_NOTFOUND)
      say("Federation %s/%s not found (kubefed init %s first)", o->namespace_, o->federation, o->federation);
    else say("reading Federation %s/%s: %s", o->namespace_, o->federation, err.msg);
    return api_exit(a, rc);
  }
  int rc = cli_api_list(a, &API_FEDERATIONS, o->namespace_, &list, &err);
  if (rc != 0) {
    say("listing Federations in %s: %s", o->namespace_, err.msg);
    return api_exit(a, rc);
  }
  json_object *items = kc_obj_get(list, "items");
  size_t n = items ? json_object_array_length(items) : 0;
  if (n == 1) *out = kf_strdup(kc_obj_str(json_object_array_get_idx(items, 0), "metadata.name"));
  json_object_put(list);
  if (n == 1) return 0;
  if (n == 0) {
    say("no Federation in namespace %s (run kubefed init first, or pass --federation-system-namespace)", o->namespace_);
    return CLI_EXIT_API;
  }
  say("namespace %s has %zu Federations: pass --federation=NAME", o->namespace_, n);
  return CLI_EXIT_USAGE;
}

static int label_is_ours(json_object *obj) {
  const char *by = kc_obj_key_str(kc_obj_get(obj, "metadata.labels"), API_LABEL_MANAGED_BY);
  return by && strcmp(by, API_CLI) == 0;
}

static int cmd_join(const cli_opts *o) {
  json_object *kubeconfig = NULL, *objs = NULL, *fc = NULL, *existing = NULL;
  char *federation = NULL, *secret_name = cli_join_secret_name(o->name);
  kf_error err;
  cli_api a = {0};
  int code, rc;
  if ((code = member_kubeconfig(o, &kubeconfig)) != 0) goto out;
  if (!o->dry_run || !o->federation) {
    if ((code = open_host(&a, o)) != 0) goto out;
    if ((code = find_federation(&a, o, &federation)) != 0) goto out;
  } else {
    federation = kf_strdup(o->federation);
  }
  if ((rc = cli_join_objects(o, federation, kubeconfig, &objs, &err)) != 0) {
    say("%s", err.msg);
    code = CLI_EXIT_API;
    goto out;
  }
  if (o->dry_run) {
    code = print_dry_run(o, objs);
    goto out;
  }
  /* Never overwrite a Secret someone else made, nor move a member to another federation. */
  rc = cli_api_get(&a, &KC_SECRETS, o->namespace_, secret_name, &existing, &err);
  if (rc == 0 && !label_is_ours(existing)) {
    say("Secret %s/%s exists and was not created by kubefed (no label %s=%s): delete or rename it first", o->namespace_,
        secret_name, API_LABEL_MANAGED_BY, API_CLI);
    code = CLI_EXIT_API;
    goto out;
  }
  if (rc != 0 && rc != KC_ERR_NOTFOUND) {
    say("reading Secret %s/%s: %s", o->namespace_, secret_name, err.msg);
    code = api_exit(&a, rc);
    goto out;
  }
  if (existing) json_object_put(existing);
  existing = NULL;
  rc = cli_api_get(&a, &API_FEDERATEDCLUSTERS, o->namespace_, o->name, &existing, &err);
  if (rc == 0) {
    const char *cur = kc_obj_str(existing, "spec.federationRef.name");
    if (cur && strcmp(cur, federation) != 0) {
      say("FederatedCluster %s/%s already joins Federation %s: kubefed unjoin %s first", o->namespace_, o->name, cur,
          o->name);
      code = CLI_EXIT_API;
      goto out;
    }
    if (kc_obj_get(existing, "metadata.deletionTimestamp")) {
      say("FederatedCluster %s/%s is being unjoined: wait until it is gone, then join again", o->namespace_, o->name);
      code = CLI_EXIT_API;
      goto out;
    }
  } else if (rc != KC_ERR_NOTFOUND) {
    say("reading FederatedCluster %s/%s: %s", o->namespace_, o->name, err.msg);
    code = api_exit(&a, rc);
    goto out;
  }
  if ((code = apply_all(&a, objs, NULL)) != 0) goto out;
  say("waiting for FederatedCluster %s/%s to be Ready (kubefed-operator joins it)", o->namespace_, o->name);
  if ((code = wait_for(&a, o, &API_FEDERATEDCLUSTERS, o->name, 0, &fc)) != 0) goto out;
  printf("cluster \"%s\" joined federation \"%s\"\n", o->name, federation);
out:
  if (kubeconfig) json_object_put(kubeconfig);
  if (objs) json_object_put(objs);
  if (fc) json_object_put(fc);
  if (existing) json_object_put(existing);
  free(federation);
  free(secret_name);
  cli_api_close(&a);
  return code;
}

/* ---- unjoin ------------------------------------------------------------------------------------- */

/* Deletes the kubeconfig Secret join created, unless another FederatedCluster uses it. */
static int delete_join_secret(cli_api *a, const cli_opts *o, const char *name) {
  json_object *secret = NULL, *list = NULL;
  kf_error err;
  int rc = cli_api_get(a, &KC_SECRETS, o->namespace_, name, &secret, &err);
  if (rc == KC_ERR_NOTFOUND) return 0;
  if (rc != 0) {
    say("reading Secret %s/%s: %s", o->namespace_, name, err.msg);
    return api_exit(a, rc);
  }
  int ours = label_is_ours(secret);
  json_object_put(secret);
  if (!ours) {
    say("keeping Secret %s/%s: it was not created by kubefed join", o->namespace_, name);
    return 0;
  }
  if ((rc = cli_api_list(a, &API_FEDERATEDCLUSTERS, o->namespace_, &list, &err)) != 0) {
    say("listing FederatedClusters in %s: %s", o->namespace_, err.msg);
    return api_exit(a, rc);
  }
  json_object *items = kc_obj_get(list, "items");
  for (size_t i = 0; items && i < json_object_array_length(items); i++) {
    json_object *fc = json_object_array_get_idx(items, i);
    const char *ref = kc_obj_str(fc, "spec.kubeconfigSecretRef.name");
    if (ref && strcmp(ref, name) == 0) {
      say("keeping Secret %s/%s: FederatedCluster %s uses it", o->namespace_, name, kc_obj_str(fc, "metadata.name"));
      json_object_put(list);
      return 0;
    }
  }
  json_object_put(list);
  rc = cli_api_delete(a, &KC_SECRETS, o->namespace_, name, &err);
  if (rc != 0 && rc != KC_ERR_NOTFOUND) {
    say("deleting Secret %s/%s: %s", o->namespace_, name, err.msg);
    return api_exit(a, rc);
  }
  printf("secret/%s deleted\n", name);
  return 0;
}

static int cmd_unjoin(const cli_opts *o) {
  json_object *fc = NULL, *gone = NULL;
  kf_error err;
  cli_api a = {0};
  char *secret = cli_join_secret_name(o->name), *federation = NULL;
  int code, rc;
  if ((code = open_host(&a, o)) != 0) goto out;
  rc = cli_api_get(&a, &API_FEDERATEDCLUSTERS, o->namespace_, o->name, &fc, &err);
  if (rc == KC_ERR_NOTFOUND) {
    say("WARNING: FederatedCluster %s/%s not found: cluster \"%s\" is not joined", o->namespace_, o->name, o->name);
    code = delete_join_secret(&a, o, secret);
    goto out;
  }
  if (rc != 0) {
    say("reading FederatedCluster %s/%s: %s", o->namespace_, o->name, err.msg);
    code = api_exit(&a, rc);
    goto out;
  }
  const char *fed = kc_obj_str(fc, "spec.federationRef.name");
  federation = kf_strdup(fed ? fed : "");
  if (o->federation && strcmp(o->federation, federation) != 0) {
    say("FederatedCluster %s/%s joins Federation %s, not %s", o->namespace_, o->name, federation, o->federation);
    code = CLI_EXIT_API;
    goto out;
  }
  const char *ref = kc_obj_str(fc, "spec.kubeconfigSecretRef.name");
  if (ref) {
    free(secret);
    secret = kf_strdup(ref);
  }
  if (!kc_obj_get(fc, "metadata.deletionTimestamp")) {
    rc = cli_api_delete(&a, &API_FEDERATEDCLUSTERS, o->namespace_, o->name, &err);
    if (rc != 0 && rc != KC_ERR_NOTFOUND) {
      say("deleting FederatedCluster %s/%s: %s", o->namespace_, o->name, err.msg);
      code = api_exit(&a, rc);
      goto out;
    }
  }
  say("waiting for FederatedCluster %s/%s to be gone (kubefed-operator unjoins it)", o->namespace_, o->name);
  if ((code = wait_for(&a, o, &API_FEDERATEDCLUSTERS, o->name, 1, &gone)) != 0) {
    if (code == CLI_EXIT_TIMEOUT)
      say("if the member cluster is gone for good: kubectl annotate federatedcluster -n %s %s "
          "kubefed.dev/force-unjoin=true",
          o->namespace_, o->name);
    goto out;
  }
  if ((code = delete_join_secret(&a, o, secret)) != 0) goto out;
  printf("Successfully removed cluster \"%s\" from federation \"%s\"\n", o->name, federation);
out:
  if (fc) json_object_put(fc);
  if (gone) json_object_put(gone);
  free(secret);
  free(federation);
  cli_api_close(&a);
  return code;
}

int main(int argc, char **argv) {
  cli_opts o;
  kf_error err;
  const char *level = getenv("KUBEFED_LOG_LEVEL");
  /* The runtime's own logs (retries and the like) only when asked for: the CLI reports. */
  if (!level || kf_log_set_level_name(level) != 0) kf_log_set_level(KF_LOG_ERROR);
  if (argc < 2) {
    cli_usage(stderr, CLI_NONE);
    return CLI_EXIT_USAGE;
  }
  if (cli_parse(argc, argv, &o, &err) != 0) {
    say("%s", err.msg);
    if (o.cmd >= CLI_INIT && o.cmd <= CLI_UNJOIN)
      say("see 'kubefed %s --help'", o.cmd == CLI_INIT ? "init" : o.cmd == CLI_JOIN ? "join" : "unjoin");
    return CLI_EXIT_USAGE;
  }
  switch (o.cmd) {
    case CLI_HELP: cli_usage(stdout, o.help_for); return 0;
    case CLI_VERSION: printf("kubefed version v%s (kubefed-operator, kubefed.dev/v1alpha1)\n", KF_VERSION); return 0;
    case CLI_INIT: return cmd_init(&o);
    case CLI_JOIN: return cmd_join(&o);
    case CLI_UNJOIN: return cmd_unjoin(&o);
    default: cli_usage(stderr, CLI_NONE); return CLI_EXIT_USAGE;
  }
}
