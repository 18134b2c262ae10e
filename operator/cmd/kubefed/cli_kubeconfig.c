#include "cli_kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <kf/b64.h>
#include "cli_yaml.h"
#include <kf/kc.h>
#include <kf/kj.h>
#include <kf/yaml.h>

int cli_read_file(const char *path, size_t max, char **out, size_t *len, kf_error *err) {
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  *out = NULL;
  *len = 0;
  if (fd < 0) return kf_error_set(err, -errno, "%s: %s", path, strerror(errno));
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return kf_error_set(err, -EINVAL, "%s: not a regular file", path);
  }
  if ((size_t)st.st_size > max) {
    close(fd);
    return kf_error_set(err, -EFBIG, "%s: larger than %zu bytes", path, max);
  }
  size_t cap = (size_t)st.st_size + 1, n = 0;
  char *buf = kf_calloc(1, cap);
  for (;;) {
    if (n + 1 >= cap) {
      /* The file grew while we read it: allow up to max. */
      if (cap > max) {
        kf_free_secret(buf, cap);
        close(fd);
        return kf_error_set(err, -EFBIG, "%s: larger than %zu bytes", path, max);
      }
      char *m = kf_calloc(1, cap * 2);
      memcpy(m, buf, n);
      kf_free_secret(buf, cap);
      buf = m;
      cap *= 2;
    }
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      kf_free_secret(buf, cap);
      close(fd);
      return kf_error_set(err, -e, "%s: %s", path, strerror(e));
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

static char *ck_home_config(void) {
  const char *home = getenv("HOME");
  return kf_asprintf("%s/.kube/config", home && home[0] ? home : ".");
}

/* The entry {name: NAME, KIND: {...}} of list (clusters, users, contexts) named name. */
static json_object *ck_find(json_object *cfg, const char *list, const char *name) {
  json_object *arr = kc_obj_get(cfg, list);
  if (!name || !arr || !json_object_is_type(arr, json_type_array)) return NULL;
  for (size_t i = 0; i < json_object_array_length(arr); i++) {
    json_object *e = json_object_array_get_idx(arr, i);
    const char *n = kc_obj_str(e, "name");
    if (n && strcmp(n, name) == 0) return e;
  }
  return NULL;
}

int cli_kubeconfig_read(const char *path, int missing_ok, json_object **out, kf_error *err) {
  char *text;
  size_t len;
  json_object *docs = NULL;
  int rc = cli_read_file(path, KF_YAML_MAX_BYTES, &text, &len, err);
  *out = NULL;
  if (rc == -ENOENT && missing_ok) {
    *out = kj_obj();
    return 0;
  }
  if (rc != 0) return rc;
  rc = kf_yaml_to_json(text, len, &docs, err);
  kf_free_secret(text, len + 1);
  if (rc != 0) {
    char msg[sizeof(err->msg)];
    snprintf(msg, sizeof(msg), "%s", err->msg);
    return kf_error_set(err, rc, "kubeconfig %s: %s", path, msg);
  }
  size_t n = json_object_array_length(docs);
  if (n == 0) {
    json_object_put(docs);
    if (!missing_ok) return kf_error_set(err, -ENOENT, "kubeconfig %s is empty", path);
    *out = kj_obj();
    return 0;
  }
  json_object *doc = json_object_array_get_idx(docs, 0);
  if (n > 1 || !json_object_is_type(doc, json_type_object)) {
    json_object_put(docs);
    return kf_error_set(err, -EINVAL, "kubeconfig %s: not a single Config object", path);
  }
  *out = json_object_get(doc);
  json_object_put(docs);
  return 0;
}

static int ck_defines(const char *path, const char *context) {
  json_object *cfg;
  kf_error err;
  int found;
  if (cli_kubeconfig_read(path, 0, &cfg, &err) != 0) return 0;
  if (context && context[0]) found = ck_find(cfg, "contexts", context) != NULL;
  else found = kc_obj_str(cfg, "current-context") && kc_obj_str(cfg, "current-context")[0];
  json_object_put(cfg);
  return found;
}

char *cli_kubeconfig_read_path(const char *flag, const char *context) {
  const char *env = getenv("KUBECONFIG");
  if (flag && flag[0]) return kf_strdup(flag);
  if (!env || !env[0]) return ck_home_config();
  char *list = kf_strdup(env), *save = NULL, *first = NULL;
  for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
    if (!first) first = p;
    if (ck_defines(p, context)) {
      char *r = kf_strdup(p);
      free(list);
      return r;
    }
  }
  char *r = first ? kf_strdup(first) : ck_home_config();
  free(list);
  return r;
}

char *cli_kubeconfig_write_path(const char *flag) {
  const char *env = getenv("KUBECONFIG");
  if (flag && flag[0]) return kf_strdup(flag);
  if (!env || !env[0]) return ck_home_config();
  size_t n = strcspn(env, ":");
  while (n == 0 && *env == ':') n = strcspn(++env, ":");
  return n ? kf_strndup(env, n) : ck_home_config();
}

/* Replaces the file reference file_key of obj by data_key (base64 of the file), in place
 * of the reference so the key order stays; token files become a plain token. */
static int ck_inline(json_object **objp, const char *base_dir, const char *file_key, const char *data_key, int base64,
                     kf_error *err) {
  json_object *obj = *objp;
  const char *ref = kc_obj_key_str(obj, file_key);
  if (!ref) return 0;
  json_object *out = kj_obj();
  int have_data = json_object_object_get_ex(obj, data_key, NULL);
  json_object_object_foreach (obj, k, v) {
    if (strcmp(k, file_key) != 0) {
      json_object_object_add(out, k, json_object_get(v));
      continue;
    }
    if (have_data) continue; /* the -data field wins, as in kubectl */
    char *path = ref[0] == '/' || !base_dir ? kf_strdup(ref) : kf_asprintf("%s/%s", base_dir, ref);
    char *buf;
    size_t len;
    int rc = cli_read_file(path, 1 << 20, &buf, &len, err);
    free(path);
    if (rc != 0) {
      json_object_put(out);
      return rc;
    }
    if (base64) {
      char *b = kf_b64_encode(buf, len);
      kj_str(out, data_key, b);
      kf_free_secret(b, strlen(b));
    } else {
      size_t n = len;
      while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
      json_object_object_add(out, data_key, json_object_new_string_len(buf, (int)n));
    }
    kf_free_secret(buf, len + 1);
  }
  json_object_put(obj);
  *objp = out;
  return 0;
}

int cli_kubeconfig_minify(json_object *cfg, const char *base_dir, const char *context, json_object **out,
                          kf_error *err) {
  json_object *ctx_e = ck_find(cfg, "contexts", context);
  json_object *ctx = ctx_e ? kc_obj_get(ctx_e, "context") : NULL;
  *out = NULL;
  if (!ctx) return kf_error_set(err, -ENOENT, "context %s not found in the kubeconfig", context);
  const char *cluster_name = kc_obj_str(ctx, "cluster"), *user_name = kc_obj_str(ctx, "user");
  json_object *cl_e = ck_find(cfg, "clusters", cluster_name);
  json_object *cl = cl_e ? kc_obj_get(cl_e, "cluster") : NULL;
  if (!cl)
    return kf_error_set(err, -ENOENT, "context %s: cluster %s not found in the kubeconfig", context,
                        cluster_name ? cluster_name : "(none)");
  json_object *us_e = user_name && user_name[0] ? ck_find(cfg, "users", user_name) : NULL;
  json_object *us = us_e ? kc_obj_get(us_e, "user") : NULL;
  if (user_name && user_name[0] && !us)
    return kf_error_set(err, -ENOENT, "context %s: user %s not found in the kubeconfig", context, user_name);
  if (us && (kc_obj_get(us, "exec") || kc_obj_get(us, "auth-provider")))
    return kf_error_set(err, -ENOTSUP,
                        "context %s: user %s uses %s credentials, which run on this machine only; the operator "
                        "needs a token or a client certificate",
                        context, user_name, kc_obj_get(us, "exec") ? "exec" : "auth-provider");

  json_object *cluster = json_object_get(cl), *user = us ? json_object_get(us) : kj_obj();
  json_object *copy = NULL;
  json_object_deep_copy(cluster, &copy, NULL);
  json_object_put(cluster);
  cluster = copy;
  copy = NULL;
  json_object_deep_copy(user, &copy, NULL);
  json_object_put(user);
  user = copy;
  int rc = ck_inline(&cluster, base_dir, "certificate-authority", "certificate-authority-data", 1, err);
  if (rc == 0) rc = ck_inline(&user, base_dir, "client-certificate", "client-certificate-data", 1, err);
  if (rc == 0) rc = ck_inline(&user, base_dir, "client-key", "client-key-data", 1, err);
  if (rc == 0 && kc_obj_str(user, "tokenFile")) {
    json_object_object_del(user, "token"); /* the file wins, as in client-go */
    rc = ck_inline(&user, base_dir, "tokenFile", "token", 0, err);
  }
  if (rc != 0) {
    json_object_put(cluster);
    json_object_put(user);
    return rc;
  }
  json_object *ctx_copy = NULL;
  json_object_deep_copy(ctx, &ctx_copy, NULL);
  json_object *m = kj_obj();
  kj_str(m, "apiVersion", "v1");
  kj_str(m, "kind", "Config");
  kj_set(m, "preferences", kj_obj());
  kj_set(m, "clusters", kj_push(kj_arr(), kj_set(kj_str(kj_obj(), "name", cluster_name), "cluster", cluster)));
  if (us) kj_set(m, "users", kj_push(kj_arr(), kj_set(kj_str(kj_obj(), "name", user_name), "user", user)));
  else json_object_put(user);
  kj_set(m, "contexts", kj_push(kj_arr(), kj_set(kj_str(kj_obj(), "name", context), "context", ctx_copy)));
  kj_str(m, "current-context", context);
  *out = m;
  return 0;
}

/* Sets list[name].KIND = val (taking val), appending {name, KIND} when absent. */
static void ck_upsert(json_object *cfg, const char *list, const char *kind, const char *name, json_object *val) {
  json_object *arr = kc_obj_get(cfg, list);
  if (!arr || !json_object_is_type(arr, json_type_array)) {
    arr = kj_arr();
    kj_set(cfg, list, arr);
  }
  json_object *e = ck_find(cfg, list, name);
  if (e) kj_set(e, kind, val);
  else kj_push(arr, kj_set(kj_str(kj_obj(), "name", name), kind, val));
}

int cli_kubeconfig_add(json_object *cfg, const char *name, json_object *admin, kf_error *err) {
  const char *cur = kc_obj_str(admin, "current-context");
  json_object *ctx_e = cur ? ck_find(admin, "contexts", cur) : NULL;
  json_object *ctxs = kc_obj_get(admin, "contexts");
  if (!ctx_e && ctxs && json_object_is_type(ctxs, json_type_array) && json_object_array_length(ctxs) > 0)
    ctx_e = json_object_array_get_idx(ctxs, 0);
  json_object *ctx = ctx_e ? kc_obj_get(ctx_e, "context") : NULL;
  json_object *cl_e = ctx ? ck_find(admin, "clusters", kc_obj_str(ctx, "cluster")) : NULL;
  json_object *us_e = ctx ? ck_find(admin, "users", kc_obj_str(ctx, "user")) : NULL;
  json_object *cl = cl_e ? kc_obj_get(cl_e, "cluster") : NULL, *us = us_e ? kc_obj_get(us_e, "user") : NULL;
  if (!cl || !us || !json_object_is_type(cfg, json_type_object))
    return kf_error_set(err, -EINVAL, "the federation's admin kubeconfig has no complete context");
  json_object *clc = NULL, *usc = NULL;
  json_object_deep_copy(cl, &clc, NULL);
  json_object_deep_copy(us, &usc, NULL);
  if (!kc_obj_get(cfg, "apiVersion")) kj_str(cfg, "apiVersion", "v1");
  if (!kc_obj_get(cfg, "kind")) kj_str(cfg, "kind", "Config");
  ck_upsert(cfg, "clusters", "cluster", name, clc);
  ck_upsert(cfg, "users", "user", name, usc);
  ck_upsert(cfg, "contexts", "context", name, kj_str(kj_str(kj_obj(), "cluster", name), "user", name));
  if (!kc_obj_get(cfg, "current-context")) kj_str(cfg, "current-context", "");
  return 0;
}

static int ck_mkdirs(char *dir) {
  struct stat st;
  if (stat(dir, &st) == 0) return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = '\0';
    int rc = ck_mkdirs(dir);
    *slash = '/';
    if (rc != 0) return rc;
  }
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -errno;
  return 0;
}

int cli_kubeconfig_write(const char *path, json_object *cfg, kf_error *err) {
  char real[PATH_MAX];
  const char *target = realpath(path, real) ? real : path;
  char *dir = kf_strdup(target), *slash = strrchr(dir, '/');
  const char *base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
  int rc = 0, lockfd = -1, fd = -1;
  char *lock = NULL, *tmp = NULL, *text = NULL;
  if (slash) *slash = '\0';
  else {
    free(dir);
    dir = kf_strdup(".");
  }
  if (!dir[0]) {
    free(dir);
    dir = kf_strdup("/");
  }
  if ((rc = ck_mkdirs(dir)) != 0) {
    kf_error_set(err, rc, "cannot create directory %s: %s", dir, strerror(-rc));
    goto out;
  }
  text = cli_yaml_emit(cfg, err);
  if (!text) {
    rc = err ? err->code : -EINVAL;
    goto out;
  }
  /* kubectl's lock protocol: PATH.lock created exclusively for the duration of a write. */
  lock = kf_asprintf("%s.lock", target);
  for (int i = 0; i < 20; i++) {
    lockfd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (lockfd >= 0 || errno != EEXIST) break;
    nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
  }
  if (lockfd < 0) {
    rc = -errno;
    if (rc == -EEXIST)
      kf_error_set(err, rc,
                   "kubeconfig %s is locked by %s (another kubectl or kubefed is writing it; remove the "
                   "lock file if none is)",
                   target, lock);
    else kf_error_set(err, rc, "cannot lock kubeconfig %s: %s", target, strerror(-rc));
    goto out;
  }
  tmp = kf_asprintf("%s/.%s.kubefed-XXXXXX", dir, base);
  fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    rc = -errno;
    kf_error_set(err, rc, "cannot write kubeconfig %s: %s", target, strerror(-rc));
    goto unlock;
  }
  size_t len = strlen(text), off = 0;
  if (fchmod(fd, 0600) != 0) rc = -errno;
  while (rc == 0 && off < len) {
    ssize_t w = write(fd, text + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) rc = -errno;
    else off += (size_t)w;
  }
  if (rc == 0 && fsync(fd) != 0) rc = -errno;
  if (close(fd) != 0 && rc == 0) rc = -errno;
  fd = -1;
  if (rc == 0 && rename(tmp, target) != 0) rc = -errno;
  if (rc != 0) {
    unlink(tmp);
    kf_error_set(err, rc, "cannot write kubeconfig %s: %s", target, strerror(-rc));
  }
unlock:
  close(lockfd);
  unlink(lock);
out:
  if (text) kf_free_secret(text, strlen(text));
  free(tmp);
  free(lock);
  free(dir);
  return rc;
}
