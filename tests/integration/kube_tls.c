/* kube.tls: credentials and TLS failures are clear errors naming the context,
 * never a crash, never an unverified connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "it.h"

/* A self-signed certificate valid from now+from_s to now+to_s, with its key, as PEM. */
static void make_cert(long from_s, long to_s, char **cert_pem, char **key_pem) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  X509_NAME *name;
  BIO *b;
  BUF_MEM *mem;
  assert_non_null(key);
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), from_s);
  X509_gmtime_adj(X509_getm_notAfter(x), to_s);
  X509_set_pubkey(x, key);
  name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"kube.tls test", -1, -1, 0);
  X509_set_issuer_name(x, name);
  assert_true(X509_sign(x, key, EVP_sha256()) > 0);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  BIO_get_mem_ptr(b, &mem);
  *cert_pem = kf_strndup(mem->data, mem->length);
  BIO_free(b);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
  BIO_get_mem_ptr(b, &mem);
  *key_pem = kf_strndup(mem->data, mem->length);
  BIO_free(b);
  X509_free(x);
  EVP_PKEY_free(key);
}

static void test_wrong_ca_is_a_clear_error(void **state) {
  it_env env;
  it_result r = {0};
  kf_error err;
  char *ca, *key;
  (void)state;
  it_env_init(&env);
  make_cert(-60, 3600, &ca, &key);
  kcfg *cfg = kcfg_dup(env.cfg);
  free(cfg->ca_pem);
  cfg->ca_pem = ca;
  cfg->ca_pem_len = strlen(ca);
  kc_client *c = kc_client_new(env.eng, cfg, &err);
  assert_non_null(c);
  kc_get(c, &KC_NAMESPACES, NULL, "default", it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, KC_ERR_TLS);
  assert_string_equal(r.err.reason, "TLSError");
  assert_non_null(strstr(r.err.msg, "not signed by the configured CA"));
  assert_non_null(strstr(r.err.msg, env.cfg->context));
  it_result_reset(&r);
  kc_client_close(c);
  kcfg_free(cfg);
  kf_free_secret(key, strlen(key));
  it_env_free(&env);
}

static void test_expired_client_certificate_is_refused(void **state) {
  it_env env;
  kf_error err;
  char *cert, *key;
  (void)state;
  it_env_init(&env);
  make_cert(-7200, -3600, &cert, &key);
  kcfg *cfg = kcfg_dup(env.cfg);
  free(cfg->client_cert_pem);
  kf_free_secret(cfg->client_key_pem, cfg->client_key_pem_len);
  cfg->client_cert_pem = cert;
  cfg->client_cert_pem_len = strlen(cert);
  cfg->client_key_pem = key;
  cfg->client_key_pem_len = strlen(key);
  assert_null(kc_client_new(env.eng, cfg, &err));
  assert_int_equal(err.code, -EKEYEXPIRED);
  assert_non_null(strstr(err.msg, "expired"));
  assert_non_null(strstr(err.msg, env.cfg->context));
  assert_null(strstr(err.msg, "PRIVATE KEY"));
  kcfg_free(cfg);
  it_env_free(&env);
}

static void test_unreachable_server_gives_up(void **state) {
  it_env env;
  it_result r = {0};
  kf_error err;
  (void)state;
  it_env_init(&env);
  kcfg *cfg = kcfg_dup(env.cfg);
  free(cfg->server);
  cfg->server = kf_strdup("https://127.0.0.1:1"); /* nothing listens on port 1 */
  kc_client *c = kc_client_new(env.eng, cfg, &err);
  kc_get(c, &KC_NAMESPACES, NULL, "default", it_cb, &r);
  it_wait(&env, &r, 60000); /* bounded retries with backoff, then the error */
  assert_int_equal(r.rc, KC_ERR_UNREACHABLE);
  assert_non_null(strstr(r.err.msg, "127.0.0.1:1"));
  it_result_reset(&r);
  kc_client_close(c);
  kcfg_free(cfg);
  it_env_free(&env);
}

static void test_operator_refuses_exec_kubeconfig(void **state) {
  char path[] = "/tmp/kf-exec-kubeconfig-XXXXXX";
  int fd = mkstemp(path);
  const char *op = getenv("KF_OPERATOR");
  (void)state;
  assert_non_null(op);
  assert_true(fd >= 0);
  const char *yaml = "apiVersion: v1\nkind: Config\ncurrent-context: cloud\n"
                     "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n"
                     "users:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                     "      command: gke-gcloud-auth-plugin\n"
                     "contexts:\n- name: cloud\n  context:\n    cluster: c\n    user: u\n";
  assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
  close(fd);
  char *cmd = kf_asprintf("%s --kubeconfig %s --health-bind-address 0 --metrics-bind-address 0 2>&1", op, path);
  FILE *p = popen(cmd, "r");
  char out[2048] = {0};
  size_t n = fread(out, 1, sizeof(out) - 1, p);
  int status = pclose(p);
  out[n] = '\0';
  unlink(path);
  free(cmd);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 1);
  assert_non_null(strstr(out, "cloud"));
  assert_non_null(strstr(out, "exec"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wrong_ca_is_a_clear_error),
      cmocka_unit_test(test_expired_client_certificate_is_refused),
      cmocka_unit_test(test_unreachable_server_gives_up),
      cmocka_unit_test(test_operator_refuses_exec_kubeconfig),
  };
  return cmocka_run_group_tests_name("kube.tls", tests, NULL, NULL);
}
