/* Unit tests for operator/kubeconfig.c.
 *
 * Fixtures live in $KF_TESTDATA/kubeconfig (see its README); cases that need
 * files to change (token rotation, in-cluster) build them in a temp dir. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include <kf/error.h>
#include <kf/kcfg.h>

#define SECRET_TOKEN "TOPSECRET-token-7f3a9c"

static char *fixture(const char *name) {
  const char *dir = getenv("KF_TESTDATA");
  assert_non_null(dir);
  return kf_asprintf("%s/kubeconfig/%s", dir, name);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf;
  long n;
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  n = ftell(f);
  assert_true(n >= 0);
  rewind(f);
  buf = kf_calloc((size_t)n + 1, 1);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  if (len) *len = (size_t)n;
  return buf;
}

static void spit(const char *path, const char *content) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
  assert_int_equal(fclose(f), 0);
}

static char *b64(const char *data, size_t len) {
  char *out = kf_calloc(4 * ((len + 2) / 3) + 1, 1);
  EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)data, (int)len);
  return out;
}

static char *b64_fixture(const char *name) {
  char *path = fixture(name);
  size_t len;
  char *data = slurp(path, &len);
  char *enc = b64(data, len);
  free(data);
  free(path);
  return enc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static char *make_tmpdir(void) {
  char *dir = kf_strdup("/tmp/kf-kcfg-test-XXXXXX");
  assert_non_null(mkdtemp(dir));
  return dir;
}

static void rm_tmpdir(char *dir) {
  nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
  free(dir);
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static void assert_lacks(const char *hay, const char *needle) {
  if (strstr(hay, needle)) fail_msg("\"%s\" contains \"%s\"", hay, needle);
}

/* ---- successful loads ------------------------------------------------------ */

static void test_current_context_data_fields(void **state) {
  char *path = fixture("data.yaml"), *ca_path = fixture("pki/ca.crt");
  char *crt_path = fixture("pki/client.crt"), *key_path = fixture("pki/client.key");
  size_t ca_len, crt_len, key_len;
  char *ca = slurp(ca_path, &ca_len), *crt = slurp(crt_path, &crt_len), *key = slurp(key_path, &key_len);
  kcfg *cfg = NULL;
  kf_error err = {0};
  (void)state;

  assert_int_equal(kcfg_load_file(path, NULL, &cfg, &err), 0);
  assert_non_null(cfg);
  assert_string_equal(cfg->context, "prod");
  assert_string_equal(cfg->cluster, "prod-cluster");
  assert_string_equal(cfg->user, "admin");
  assert_string_equal(cfg->server, "https://prod.example.com:6443"); /* trailing slash gone */
  assert_string_equal(cfg->namespace_, "kube-system");
  assert_string_equal(cfg->tls_server_name, "kubernetes.default");
  assert_int_equal(cfg->ca_pem_len, ca_len);
  assert_memory_equal(cfg->ca_pem, ca, ca_len);
  assert_int_equal(cfg->ca_pem[ca_len], '\0');
  assert_int_equal(cfg->client_cert_pem_len, crt_len);
  assert_memory_equal(cfg->client_cert_pem, crt, crt_len);
  assert_int_equal(cfg->client_key_pem_len, key_len);
  assert_memory_equal(cfg->client_key_pem, key, key_len);
  assert_int_equal(cfg->client_key_pem[key_len], '\0');
  assert_null(cfg->token);
  assert_null(cfg->token_file);
  kcfg_free(cfg);

  /* "" also means current-context. */
  assert_int_equal(kcfg_load_file(path, "", &cfg, &err), 0);
  assert_string_equal(cfg->context, "prod");
  kcfg_free(cfg);

  free(ca), free(crt), free(key);
  free(ca_path), free(crt_path), free(key_path), free(path);
}

static void test_explicit_context_default_namespace_ipv6(void **state) {
  char *path = fixture("data.yaml");
  kcfg *cfg = NULL;
  kf_error err = {0};
  (void)state;

  assert_int_equal(kcfg_load_file(path, "dev", &cfg, &err), 0);
  assert_string_equal(cfg->context, "dev");
  assert_string_equal(cfg->cluster, "dev-cluster");
  assert_string_equal(cfg->server, "https://[2001:db8::1]:6443");
  assert_string_equal(cfg->namespace_, "default");
  assert_null(cfg->tls_server_name);
  assert_string_equal(cfg->token, "fixture-robot-token-0123456789");
  assert_null(cfg->client_cert_pem);
  assert_null(cfg->client_key_pem);
  assert_non_null(cfg->ca_pem);
  kcfg_free(cfg);
  free(path);
}

static void test_relative_files(void **state) {
  char *path = fixture("files.yaml"), *ca_path = fixture("pki/ca.crt");
  char *key_path = fixture("pki/client.key"), *tok_path = fixture("pki/token");
  size_t ca_len, key_len;
  char *ca = slurp(ca_path, &ca_len), *key = slurp(key_path, &key_len);
  kcfg *cfg = NULL;
  kf_error err = {0};
  (void)state;

  assert_int_equal(kcfg_load_file(path, NULL, &cfg, &err), 0);
  assert_string_equal(cfg->context, "files");
  assert_string_equal(cfg->server, "https://files.example.com:443");
  assert_string_equal(cfg->namespace_, "team-a");
  assert_int_equal(cfg->ca_pem_len, ca_len);
  assert_memory_equal(cfg->ca_pem, ca, ca_len);
  assert_int_equal(cfg->client_key_pem_len, key_len);
  assert_memory_equal(cfg->client_key_pem, key, key_len);
  kcfg_free(cfg);

  /* tokenFile wins over token, and the newline is trimmed. */
  assert_int_equal(kcfg_load_file(path, "token-file", &cfg, &err), 0);
  assert_string_equal(cfg->token, "fixture-file-token-abcdef");
  assert_string_equal(cfg->token_file, tok_path);
  kcfg_free(cfg);

  free(ca), free(key), free(ca_path), free(key_path), free(tok_path), free(path);
}

/* A relative kubeconfig path resolves against the cwd, and the kept
 * token_file is absolute so it survives a later chdir. */
static void test_relative_kubeconfig_path(void **state) {
  char *cwd = getcwd(NULL, 0);
  const char *dir = getenv("KF_TESTDATA");
  kcfg *cfg = NULL;
  kf_error err = {0};
  (void)state;

  assert_non_null(cwd);
  assert_int_equal(chdir(dir), 0);
  assert_int_equal(kcfg_load_file("kubeconfig/files.yaml", "token-file", &cfg, &err), 0);
  assert_true(cfg->token_file[0] == '/');
  assert_int_equal(chdir("/"), 0);
  assert_int_equal(kcfg_refresh_token(cfg, &err), 0);
  assert_string_equal(cfg->token, "fixture-file-token-abcdef");
  kcfg_free(cfg);
  assert_int_equal(chdir(cwd), 0);
  free(cwd);
}

static void test_data_refuses_file_references(void **state) {
  char *path = fixture("files.yaml"), *dir = fixture("");
  size_t len;
  char *data = slurp(path, &len);
  kcfg *cfg = NULL;
  kf_error err = {0};
  (void)state;

  assert_int_equal(kcfg_load_data(data, len, NULL, NULL, &cfg, &err), -EINVAL);
  assert_null(cfg);
  assert_contains(err.msg, "<data>");
  assert_contains(err.msg, "\"files\"");
  assert_contains(err.msg, "self-contained");
  assert_contains(err.msg, "certificate-authority-data");

  /* tokenFile is refused too, even absolute: it could name the operator's
   * own service-account token, which we would then send to this server. */
  {
    static const char yaml[] =
        "current-context: c\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
        "clusters: [{name: k, cluster: {server: 'https://evil.example.com'}}]\n"
        "users: [{name: u, user: {tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}}]\n";
    assert_int_equal(kcfg_load_data(yaml, strlen(yaml), NULL, NULL, &cfg, &err), -EINVAL);
    assert_contains(err.msg, "tokenFile");
    assert_contains(err.msg, "self-contained");
    assert_null(cfg);
  }

  /* With a base_dir the same bytes load. */
  assert_int_equal(kcfg_load_data(data, len, dir, NULL, &cfg, &err), 0);
  assert_non_null(cfg->ca_pem);
  assert_non_null(cfg->client_key_pem);
  kcfg_free(cfg);
  free(data), free(path), free(dir);
}

static void test_token_file_refresh(void **state) {
  char *dir = make_tmpdir();
  char *kc = kf_asprintf("%s/config", dir), *tok = kf_asprintf("%s/tok", dir);
  kcfg *cfg = NULL, *copy;
  kf_error err = {0};
  (void)state;

  spit(kc, "current-context: c\n"
           "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
           "clusters: [{name: k, cluster: {server: 'https://k.example.com'}}]\n"
           "users: [{name: u, user: {tokenFile: tok}}]\n");
  spit(tok, "first-token\n");
  assert_int_equal(kcfg_load_file(kc, NULL, &cfg, &err), 0);
  assert_string_equal(cfg->token, "first-token");
  assert_string_equal(cfg->token_file, tok);
  assert_null(cfg->ca_pem); /* system CAs */

  /* Unchanged: still 0. */
  assert_int_equal(kcfg_refresh_token(cfg, &err), 0);
  assert_string_equal(cfg->token, "first-token");

  spit(tok, "  second-token \r\n\n");
  assert_int_equal(kcfg_refresh_token(cfg, &err), 0);
  assert_string_equal(cfg->token, "second-token");

  copy = kcfg_dup(cfg);
  assert_ptr_not_equal(copy->token, cfg->token);
  assert_string_equal(copy->token, "second-token");
  assert_string_equal(copy->token_file, tok);

  /* A vanished file is an error and the old token stays. */
  assert_int_equal(unlink(tok), 0);
  assert_int_equal(kcfg_refresh_token(cfg, &err), -ENOENT);
  assert_contains(err.msg, tok);
  assert_lacks(err.msg, "second-token");
  assert_string_equal(cfg->token, "second-token");

  /* An empty one too. */
  spit(tok, "\n");
  assert_int_equal(kcfg_refresh_token(cfg, &err), -EINVAL);
  assert_string_equal(cfg->token, "second-token");

  kcfg_free(cfg);
  kcfg_free(copy);
  /* A token file missing at load time names the file and the context. */
  unlink(tok);
  assert_int_equal(kcfg_load_file(kc, NULL, &cfg, &err), -ENOENT);
  assert_contains(err.msg, tok);
  assert_contains(err.msg, "context \"c\"");
  assert_contains(err.msg, "No such file");
  free(kc), free(tok);
  rm_tmpdir(dir);
}

static void test_dup(void **state) {
  char *path = fixture("data.yaml");
  kcfg *cfg = NULL, *d;
  kf_error err = {0};
  (void)state;

  assert_null(kcfg_dup(NULL));
  assert_int_equal(kcfg_load_file(path, NULL, &cfg, &err), 0);
  d = kcfg_dup(cfg);
  assert_non_null(d);
  kcfg_free(cfg);
  /* Everything is a copy: still readable after the original is gone. */
  assert_string_equal(d->context, "prod");
  assert_string_equal(d->server, "https://prod.example.com:6443");
  assert_string_equal(d->namespace_, "kube-system");
  assert_string_equal(d->tls_server_name, "kubernetes.default");
  assert_non_null(strstr(d->ca_pem, "BEGIN CERTIFICATE"));
  assert_int_equal(strlen(d->client_key_pem), d->client_key_pem_len);
  assert_non_null(strstr(d->client_key_pem, "PRIVATE KEY"));
  kcfg_free(d);
  kcfg_free(NULL);
  free(path);
}

/* ---- errors ---------------------------------------------------------------- */

#define KC_CTX             \
  "current-context: ctx\n" \
  "contexts:\n- name: ctx\n  context: {cluster: c1, user: u1}\n"
#define KC_CLUSTER "clusters:\n- name: c1\n  cluster:\n    server: https://k.example.com\n"
#define KC_TOKEN_USER "users:\n- name: u1\n  user:\n    token: " SECRET_TOKEN "\n"

typedef struct err_case {
  const char *name;
  const char *yaml;
  const char *context;
  int code;
  const char *must; /* substring the message must contain */
} err_case;

static const err_case err_cases[] = {
    {"syntax", "clusters: [\n  {name: x\n", "ctx", -EINVAL, "line"},
    {"syntax-indent", KC_CTX "clusters:\n - name: a\n  bad: [\n", "ctx", -EINVAL, "YAML syntax error"},
    {"no current-context", "contexts: []\n" KC_CLUSTER KC_TOKEN_USER, NULL, -EINVAL, "no current-context"},
    {"context not found", KC_CTX KC_CLUSTER KC_TOKEN_USER, "nope", -ENOENT, "not found"},
    {"cluster not found",
     "current-context: ctx\ncontexts: [{name: ctx, context: {cluster: gone, user: u1}}]\n" KC_CLUSTER KC_TOKEN_USER,
     NULL, -ENOENT, "cluster \"gone\" not found"},
    {"user not found",
     "current-context: ctx\ncontexts: [{name: ctx, context: {cluster: c1, user: gone}}]\n" KC_CLUSTER KC_TOKEN_USER,
     NULL, -ENOENT, "user \"gone\" not found"},
    {"context without cluster",
     "current-context: ctx\ncontexts: [{name: ctx, context: {user: u1}}]\n" KC_CLUSTER KC_TOKEN_USER, NULL, -EINVAL,
     "has no cluster"},
    {"server missing", KC_CTX "clusters:\n- name: c1\n  cluster: {certificate-authority-data: null}\n" KC_TOKEN_USER,
     NULL, -EINVAL, "no server"},
    {"server null", KC_CTX "clusters:\n- name: c1\n  cluster: {server: ~}\n" KC_TOKEN_USER, NULL, -EINVAL, "no server"},
    {"http", KC_CTX "clusters:\n- name: c1\n  cluster: {server: 'http://k.example.com:8080'}\n" KC_TOKEN_USER, NULL,
     -EINVAL, "plain http"},
    {"not a url", KC_CTX "clusters:\n- name: c1\n  cluster: {server: k.example.com}\n" KC_TOKEN_USER, NULL, -EINVAL,
     "not an https:// URL"},
    {"no host", KC_CTX "clusters:\n- name: c1\n  cluster: {server: 'https:///api'}\n" KC_TOKEN_USER, NULL, -EINVAL,
     "no host"},
    {"server credentials",
     KC_CTX "clusters:\n- name: c1\n  cluster: {server: 'https://bob:" SECRET_TOKEN "@k'}\n" KC_TOKEN_USER, NULL,
     -EINVAL, "credentials"},
    {"server list", KC_CTX "clusters:\n- name: c1\n  cluster: {server: [a]}\n" KC_TOKEN_USER, NULL, -EINVAL,
     "server must be a string"},
    {"insecure", KC_CLUSTER "    insecure-skip-tls-verify: true\n" KC_CTX KC_TOKEN_USER, NULL, -ENOTSUP,
     "insecure-skip-tls-verify"},
    {"insecure yes", KC_CLUSTER "    insecure-skip-tls-verify: yes\n" KC_CTX KC_TOKEN_USER, NULL, -ENOTSUP,
     "insecure-skip-tls-verify"},
    {"insecure odd", KC_CLUSTER "    insecure-skip-tls-verify: 'false'\n" KC_CTX KC_TOKEN_USER, NULL, -EINVAL,
     "true or false"},
    {"exec",
     KC_CTX KC_CLUSTER "users:\n- name: u1\n  user:\n    token: " SECRET_TOKEN "\n"
                       "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                       "      command: aws\n      args: [eks, get-token]\n",
     NULL, -ENOTSUP, "exec credential plugin (command aws)"},
    {"auth-provider",
     KC_CTX KC_CLUSTER "users:\n- name: u1\n  user:\n    auth-provider:\n      name: gcp\n"
                       "      config: {access-token: " SECRET_TOKEN "}\n",
     NULL, -ENOTSUP, "auth-provider plugin gcp"},
    {"basic auth", KC_CTX KC_CLUSTER "users:\n- name: u1\n  user: {username: admin, password: " SECRET_TOKEN "}\n",
     NULL, -ENOTSUP, "username/password"},
    {"impersonation", KC_CTX KC_CLUSTER "users:\n- name: u1\n  user: {token: " SECRET_TOKEN ", as: root}\n", NULL,
     -ENOTSUP, "impersonation"},
    {"token with newline",
     KC_CTX KC_CLUSTER "users:\n- name: u1\n  user: {token: \"" SECRET_TOKEN "\\r\\nX-Evil: 1\"}\n", NULL, -EINVAL,
     "control characters"},
    {"token with NUL", KC_CTX KC_CLUSTER "users:\n- name: u1\n  user: {token: \"" SECRET_TOKEN "\\0tail\"}\n", NULL,
     -EINVAL, "NUL"},
    {"bad base64", KC_CLUSTER "    certificate-authority-data: 'not*base64'\n" KC_CTX KC_TOKEN_USER, NULL, -EINVAL,
     "certificate-authority-data is not valid base64"},
    {"base64 missing padding", KC_CLUSTER "    certificate-authority-data: QQ\n" KC_CTX KC_TOKEN_USER, NULL, -EINVAL,
     "base64"},
    {"base64 inner padding", KC_CLUSTER "    certificate-authority-data: QQ==QQ==\n" KC_CTX KC_TOKEN_USER, NULL,
     -EINVAL, "base64"},
    {"base64 triple padding", KC_CLUSTER "    certificate-authority-data: Q===\n" KC_CTX KC_TOKEN_USER, NULL, -EINVAL,
     "base64"},
    {"not pem", KC_CLUSTER "    certificate-authority-data: aGVsbG8=\n" KC_CTX KC_TOKEN_USER, NULL, -EINVAL, "PEM"},
    {"clusters not a list", KC_CTX "clusters: {c1: 1}\n" KC_TOKEN_USER, NULL, -EINVAL, "clusters must be a list"},
    {"top-level list", "- a\n- b\n", "ctx", -EINVAL, "mapping"},
    {"empty", "", "ctx", -EINVAL, "empty"},
    {"comment only", "# nothing\n", "ctx", -EINVAL, "empty"},
    {"alias cycle", KC_CTX "clusters: &a [*a]\n" KC_TOKEN_USER, NULL, -EINVAL, "mapping"},
    {"undefined alias", KC_CTX "clusters: *nope\n" KC_TOKEN_USER, "ctx", -EINVAL, "alias"},
    {"control char", "current-context: \x01\n", "ctx", -EINVAL, "YAML"},
};

static void check_secret_free(const char *msg) {
  assert_lacks(msg, SECRET_TOKEN);
  assert_lacks(msg, "PRIVATE KEY");
  assert_lacks(msg, "LS0tLS1CRUdJTi"); /* base64 of "-----BEGIN" */
}

static void test_error_cases(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
    const err_case *c = &err_cases[i];
    kcfg *cfg = (kcfg *)&cfg; /* must be reset to NULL */
    kf_error err = {0};
    int rc = kcfg_load_data(c->yaml, strlen(c->yaml), NULL, c->context, &cfg, &err);
    print_message("case %-24s rc=%d msg=%s\n", c->name, rc, err.msg);
    if (rc != c->code) fail_msg("case %s: rc %d, want %d (%s)", c->name, rc, c->code, err.msg);
    assert_null(cfg);
    assert_int_equal(err.code, c->code);
    assert_contains(err.msg, "kubeconfig <data>");
    /* Without a current-context there is no context to name. */
    if (strcmp(c->must, "no current-context") != 0) assert_contains(err.msg, c->context ? c->context : "\"ctx\"");
    assert_contains(err.msg, c->must);
    check_secret_free(err.msg);
  }
}

/* Errors involving key material: the key's bytes never reach the message. */
static void test_key_errors(void **state) {
  char *key = b64_fixture("pki/client.key"), *crt = b64_fixture("pki/client.crt");
  char *yaml;
  kcfg *cfg = NULL;
  kf_error err = {0};
  (void)state;

  yaml = kf_asprintf(KC_CTX KC_CLUSTER "users:\n- name: u1\n  user:\n    client-key-data: %s\n", key);
  assert_int_equal(kcfg_load_data(yaml, strlen(yaml), NULL, NULL, &cfg, &err), -EINVAL);
  assert_contains(err.msg, "client key but no client certificate");
  assert_contains(err.msg, "\"ctx\"");
  assert_lacks(err.msg, key);
  check_secret_free(err.msg);
  free(yaml);

  yaml = kf_asprintf(KC_CTX KC_CLUSTER "users:\n- name: u1\n  user:\n    client-certificate-data: %s\n"
                                       "    token: " SECRET_TOKEN "\n",
                     crt);
  assert_int_equal(kcfg_load_data(yaml, strlen(yaml), NULL, NULL, &cfg, &err), -EINVAL);
  assert_contains(err.msg, "client certificate but no client key");
  check_secret_free(err.msg);
  free(yaml);

  /* Key data that is not base64: the message names the field, not the value. */
  yaml = kf_asprintf(KC_CTX KC_CLUSTER "users:\n- name: u1\n  user:\n    client-certificate-data: %s\n"
                                       "    client-key-data: '%.20s!'\n",
                     crt, key);
  assert_int_equal(kcfg_load_data(yaml, strlen(yaml), NULL, NULL, &cfg, &err), -EINVAL);
  assert_contains(err.msg, "client-key-data is not valid base64");
  check_secret_free(err.msg);
  free(yaml);

  /* Both present: fine, and base64 split over lines in a block scalar decodes. */
  yaml = kf_asprintf(KC_CTX KC_CLUSTER "users:\n- name: u1\n  user:\n    client-certificate-data: %s\n"
                                       "    client-key-data: |\n      %.40s\n      %s\n",
                     crt, key, key + 40);
  assert_int_equal(kcfg_load_data(yaml, strlen(yaml), NULL, NULL, &cfg, &err), 0);
  assert_non_null(strstr(cfg->client_key_pem, "-----END EC PRIVATE KEY-----"));
  kcfg_free(cfg);
  free(yaml);
  free(key), free(crt);
}

/* All three padding lengths decode to the exact bytes. */
static void test_base64_padding(void **state) {
  static const char *const pems[] = {"-----BEGIN X-----\n", "-----BEGIN X-----\nA", "-----BEGIN X-----\nAB"};
  (void)state;
  for (size_t i = 0; i < 3; i++) {
    char *enc = b64(pems[i], strlen(pems[i]));
    char *yaml = kf_asprintf(KC_CLUSTER "    certificate-authority-data: %s\n" KC_CTX KC_TOKEN_USER, enc);
    kcfg *cfg = NULL;
    kf_error err = {0};
    assert_int_equal(kcfg_load_data(yaml, strlen(yaml), NULL, NULL, &cfg, &err), 0);
    assert_int_equal(cfg->ca_pem_len, strlen(pems[i]));
    assert_string_equal(cfg->ca_pem, pems[i]);
    assert_string_equal(cfg->token, SECRET_TOKEN);
    kcfg_free(cfg);
    free(yaml), free(enc);
  }
}

static void test_file_errors(void **state) {
  char *path = fixture("files.yaml"), *missing = fixture("pki/does-not-exist.key");
  char *dir = make_tmpdir(), *big, *deep, *kc;
  size_t n;
  kcfg *cfg = NULL;
  kf_error err = {0};
  (void)state;

  /* Missing kubeconfig: path, context and strerror. */
  assert_int_equal(kcfg_load_file("/nonexistent/kubeconfig", "prod", &cfg, &err), -ENOENT);
  assert_contains(err.msg, "/nonexistent/kubeconfig");
  assert_contains(err.msg, "\"prod\"");
  assert_contains(err.msg, "No such file or directory");
  assert_null(cfg);

  /* A directory is not a kubeconfig. */
  assert_int_equal(kcfg_load_file(dir, NULL, &cfg, &err), -EISDIR);

  /* Referenced file missing. */
  assert_int_equal(kcfg_load_file(path, "missing-file", &cfg, &err), -ENOENT);
  assert_contains(err.msg, missing);
  assert_contains(err.msg, "\"missing-file\"");
  assert_contains(err.msg, "client-key");
  assert_contains(err.msg, path);

  /* Unreadable (skipped as root, who reads everything). */
  if (geteuid() != 0) {
    char *p = kf_asprintf("%s/noperm", dir);
    spit(p, "x: 1\n");
    chmod(p, 0);
    assert_int_equal(kcfg_load_file(p, NULL, &cfg, &err), -EACCES);
    assert_contains(err.msg, "Permission denied");
    free(p);
  }

  /* Over 4 MiB, as data and as a file. */
  n = ((size_t)4 << 20) + 1;
  big = kf_calloc(n + 1, 1);
  memset(big, '#', n);
  assert_int_equal(kcfg_load_data(big, n, NULL, "ctx", &cfg, &err), -EFBIG);
  assert_contains(err.msg, "<data>");
  kc = kf_asprintf("%s/big", dir);
  spit(kc, big);
  assert_int_equal(kcfg_load_file(kc, NULL, &cfg, &err), -EFBIG);
  assert_contains(err.msg, kc);
  free(kc);
  free(big);

  /* Deep nesting is refused before libyaml builds it. */
  n = 100000;
  deep = kf_calloc(n + 1, 1);
  memset(deep, '[', n);
  assert_int_equal(kcfg_load_data(deep, n, NULL, "ctx", &cfg, &err), -EINVAL);
  assert_contains(err.msg, "nested deeper");
  free(deep);

  /* So are documents with too many nodes. */
  n = 2 * 300000;
  big = kf_calloc(n + 16, 1);
  strcpy(big, "x: [");
  for (size_t i = 4; i < n; i += 2) memcpy(big + i, "1,", 2);
  strcpy(big + n, "1]\n");
  assert_int_equal(kcfg_load_data(big, strlen(big), NULL, "ctx", &cfg, &err), -EINVAL);
  assert_contains(err.msg, "nodes");
  free(big);

  free(path), free(missing);
  rm_tmpdir(dir);
}

static void test_bad_args(void **state) {
  kcfg *cfg = NULL;
  kf_error err = {0};
  (void)state;
  assert_int_equal(kcfg_load_data("x", 1, NULL, NULL, NULL, &err), -EINVAL);
  assert_int_equal(kcfg_load_data(NULL, 5, NULL, NULL, &cfg, &err), -EINVAL);
  assert_int_equal(kcfg_load_file(NULL, NULL, &cfg, &err), -EINVAL);
  assert_int_equal(kcfg_load_file("", NULL, &cfg, NULL), -EINVAL);
  assert_int_equal(kcfg_refresh_token(NULL, &err), -EINVAL);
  /* NULL err is allowed everywhere. */
  assert_int_equal(kcfg_load_data("", 0, NULL, "x", &cfg, NULL), -EINVAL);
}

/* ---- in-cluster ------------------------------------------------------------ */

typedef struct env_save {
  char *host, *port, *dir;
} env_save;

static char *dup_env(const char *name) {
  const char *v = getenv(name);
  return v ? kf_strdup(v) : NULL;
}

static void restore_env(const char *name, char *v) {
  if (v) setenv(name, v, 1);
  else unsetenv(name);
  free(v);
}

static int env_setup(void **state) {
  env_save *s = kf_calloc(1, sizeof(*s));
  s->host = dup_env("KUBERNETES_SERVICE_HOST");
  s->port = dup_env("KUBERNETES_SERVICE_PORT");
  s->dir = dup_env("KF_SERVICEACCOUNT_DIR");
  *state = s;
  return 0;
}

static int env_teardown(void **state) {
  env_save *s = *state;
  restore_env("KUBERNETES_SERVICE_HOST", s->host);
  restore_env("KUBERNETES_SERVICE_PORT", s->port);
  restore_env("KF_SERVICEACCOUNT_DIR", s->dir);
  free(s);
  return 0;
}

static void test_in_cluster(void **state) {
  char *dir = make_tmpdir(), *ca_path = fixture("pki/ca.crt");
  char *tok = kf_asprintf("%s/token", dir), *ca = kf_asprintf("%s/ca.crt", dir);
  char *ns = kf_asprintf("%s/namespace", dir), *ca_pem = slurp(ca_path, NULL);
  kcfg *cfg = NULL;
  kf_error err = {0};
  (void)state;

  spit(tok, "sa-token-1\n");
  spit(ca, ca_pem);
  spit(ns, "kubefed-system\n");
  setenv("KF_SERVICEACCOUNT_DIR", dir, 1);
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);

  assert_int_equal(kcfg_load_in_cluster(&cfg, &err), 0);
  assert_string_equal(cfg->context, "in-cluster");
  assert_string_equal(cfg->server, "https://10.96.0.1:443");
  assert_string_equal(cfg->namespace_, "kubefed-system");
  assert_string_equal(cfg->token, "sa-token-1");
  assert_string_equal(cfg->token_file, tok);
  assert_string_equal(cfg->ca_pem, ca_pem);
  assert_int_equal(cfg->ca_pem_len, strlen(ca_pem));
  assert_null(cfg->client_key_pem);

  /* Bound service-account tokens rotate: the file is re-read. */
  spit(tok, "sa-token-2");
  assert_int_equal(kcfg_refresh_token(cfg, &err), 0);
  assert_string_equal(cfg->token, "sa-token-2");
  kcfg_free(cfg);

  /* IPv6 service host gets brackets; no namespace file means "default". */
  unlink(ns);
  setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
  assert_int_equal(kcfg_load_in_cluster(&cfg, &err), 0);
  assert_string_equal(cfg->server, "https://[fd00:10:96::1]:443");
  assert_string_equal(cfg->namespace_, "default");
  kcfg_free(cfg);

  /* Bad port. */
  setenv("KUBERNETES_SERVICE_PORT", "https", 1);
  assert_int_equal(kcfg_load_in_cluster(&cfg, &err), -EINVAL);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);

  /* Missing CA. */
  unlink(ca);
  assert_int_equal(kcfg_load_in_cluster(&cfg, &err), -ENOENT);
  assert_contains(err.msg, ca);
  assert_null(cfg);
  spit(ca, ca_pem);

  /* Missing token: names the file, not the token. */
  unlink(tok);
  assert_int_equal(kcfg_load_in_cluster(&cfg, &err), -ENOENT);
  assert_contains(err.msg, "in-cluster config: cannot read token file");
  assert_contains(err.msg, tok);
  assert_null(cfg);

  /* Not in a pod. */
  unsetenv("KUBERNETES_SERVICE_HOST");
  assert_int_equal(kcfg_load_in_cluster(&cfg, &err), -ENOENT);
  assert_contains(err.msg, "KUBERNETES_SERVICE_HOST");

  free(tok), free(ca), free(ns), free(ca_pem), free(ca_path);
  rm_tmpdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_current_context_data_fields),
      cmocka_unit_test(test_explicit_context_default_namespace_ipv6),
      cmocka_unit_test(test_relative_files),
      cmocka_unit_test(test_relative_kubeconfig_path),
      cmocka_unit_test(test_data_refuses_file_references),
      cmocka_unit_test(test_token_file_refresh),
      cmocka_unit_test(test_dup),
      cmocka_unit_test(test_error_cases),
      cmocka_unit_test(test_key_errors),
      cmocka_unit_test(test_base64_padding),
      cmocka_unit_test(test_file_errors),
      cmocka_unit_test(test_bad_args),
      cmocka_unit_test_setup_teardown(test_in_cluster, env_setup, env_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
