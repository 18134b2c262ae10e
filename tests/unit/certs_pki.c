/* certs.pki: the federation PKI helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "certs/certs.h"

static const char *const SANS[] = {"fellowship-apiserver", "fellowship-apiserver.federation-system",
                                   "fellowship-apiserver.federation-system.svc",
                                   "fellowship-apiserver.federation-system.svc.cluster.local", NULL};
static const char *const IPS[] = {"127.0.0.7", "::1", NULL};

static void test_ca_and_serving_certificate(void **state) {
  certs_pair ca, srv;
  kf_error err;
  time_t not_after;
  (void)state;
  assert_int_equal(certs_new_ca("fellowship-ca", 3600, CERTS_KEY_ECDSA_P256, &ca, &err), 0);
  assert_true(certs_signed_by(ca.cert_pem, ca.cert_pem));
  assert_true(certs_key_matches(ca.cert_pem, ca.key_pem));
  assert_non_null(strstr(ca.key_pem, "PRIVATE KEY"));

  certs_request req = {.common_name = "fellowship-apiserver",
                       .dns_names = SANS,
                       .ip_addresses = IPS,
                       .validity_s = 7200,
                       .server_auth = 1};
  assert_int_equal(certs_issue(&ca, &req, &srv, &err), 0);
  assert_true(certs_signed_by(srv.cert_pem, ca.cert_pem));
  assert_true(certs_key_matches(srv.cert_pem, srv.key_pem));
  assert_false(certs_key_matches(srv.cert_pem, ca.key_pem));
  assert_true(certs_covers(srv.cert_pem, SANS, IPS));
  const char *other[] = {"evil.example", NULL};
  const char *other_ip[] = {"127.0.0.8", NULL};
  assert_false(certs_covers(srv.cert_pem, other, NULL));
  assert_false(certs_covers(srv.cert_pem, NULL, other_ip));
  assert_int_equal(certs_not_after(srv.cert_pem, &not_after, &err), 0);
  assert_true(labs((long)(not_after - (time(NULL) + 7200))) < 60);

  /* Another CA does not vouch for it. */
  certs_pair other_ca;
  assert_int_equal(certs_new_ca("other", 3600, CERTS_KEY_ECDSA_P256, &other_ca, &err), 0);
  assert_false(certs_signed_by(srv.cert_pem, other_ca.cert_pem));
  certs_pair_free(&other_ca);
  certs_pair_free(&srv);
  certs_pair_free(&ca);
}

static void test_rsa_client_certificate(void **state) {
  certs_pair ca, client;
  kf_error err;
  (void)state;
  assert_int_equal(certs_new_ca("ca", 3600, CERTS_KEY_RSA_2048, &ca, &err), 0);
  const char *const groups[] = {"system:masters", NULL};
  certs_request req = {.common_name = "admin",
                       .organizations = groups,
                       .client_auth = 1,
                       .key_type = CERTS_KEY_RSA_2048};
  assert_int_equal(certs_issue(&ca, &req, &client, &err), 0);
  assert_true(certs_signed_by(client.cert_pem, ca.cert_pem));
  assert_non_null(strstr(client.key_pem, "PRIVATE KEY"));
  certs_pair_free(&client);
  certs_pair_free(&ca);
}

static void test_bad_input(void **state) {
  certs_pair ca, out;
  kf_error err;
  (void)state;
  assert_int_equal(certs_new_ca("ca", 3600, CERTS_KEY_ECDSA_P256, &ca, &err), 0);
  const char *bad_ip[] = {"10.0.0.300", NULL};
  certs_request req = {.common_name = "x", .ip_addresses = bad_ip, .server_auth = 1};
  assert_int_equal(certs_issue(&ca, &req, &out, &err), -EINVAL);
  assert_non_null(strstr(err.msg, "10.0.0.300"));
  const char *bad_dns[] = {"a b", NULL};
  certs_request req2 = {.common_name = "x", .dns_names = bad_dns, .server_auth = 1};
  assert_int_equal(certs_issue(&ca, &req2, &out, &err), -EINVAL);

  certs_pair broken = {.cert_pem = "not a certificate", .key_pem = ca.key_pem};
  certs_request ok = {.common_name = "x", .server_auth = 1};
  assert_int_equal(certs_issue(&broken, &ok, &out, &err), -EINVAL);
  assert_null(strstr(err.msg, "PRIVATE"));

  certs_pair ca2;
  assert_int_equal(certs_new_ca("ca2", 3600, CERTS_KEY_ECDSA_P256, &ca2, &err), 0);
  certs_pair mismatched = {.cert_pem = ca.cert_pem, .key_pem = ca2.key_pem};
  assert_int_equal(certs_issue(&mismatched, &ok, &out, &err), -EINVAL);
  assert_non_null(strstr(err.msg, "does not belong"));
  certs_pair_free(&ca2);

  /* A leaf with its own key is no CA (a bring-your-own CA Secret holding the wrong pair):
   * refused with a reason, where it used to issue certificates nothing could verify. */
  certs_pair leaf;
  assert_int_equal(certs_ca_check(ca.cert_pem, ca.key_pem, &err), 0);
  assert_int_equal(certs_issue(&ca, &ok, &leaf, &err), 0);
  assert_true(certs_key_matches(leaf.cert_pem, leaf.key_pem));
  assert_int_equal(certs_ca_check(leaf.cert_pem, leaf.key_pem, &err), -EINVAL);
  assert_non_null(strstr(err.msg, "not a CA"));
  assert_int_equal(certs_issue(&leaf, &ok, &out, &err), -EINVAL);
  assert_non_null(strstr(err.msg, "not a CA"));
  assert_null(out.cert_pem);
  assert_int_equal(certs_ca_check(NULL, ca.key_pem, &err), -EINVAL);
  certs_pair_free(&leaf);
  certs_pair_free(&ca);
}

typedef struct async_result {
  int calls, rc;
  certs_pair pair;
  uv_thread_t thread;
} async_result;

static void on_done(int rc, certs_pair *pair, const kf_error *err, void *data) {
  async_result *r = data;
  (void)err;
  r->calls++;
  r->rc = rc;
  r->thread = uv_thread_self();
  if (pair) {
    r->pair = *pair;
    pair->cert_pem = pair->key_pem = NULL; /* ownership moves to the test */
  }
}

static void test_async_runs_off_the_loop_and_reports_on_it(void **state) {
  uv_loop_t loop;
  async_result ca = {0}, srv = {0};
  kf_error err;
  uv_thread_t self = uv_thread_self();
  (void)state;
  uv_loop_init(&loop);
  certs_request careq = {.common_name = "async-ca", .validity_s = 3600};
  assert_int_equal(certs_issue_async(&loop, NULL, &careq, on_done, &ca, &err), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(ca.calls, 1);
  assert_int_equal(ca.rc, 0);
  assert_true(uv_thread_equal(&ca.thread, &self));
  certs_request req = {.common_name = "async-server", .dns_names = SANS, .server_auth = 1};
  assert_int_equal(certs_issue_async(&loop, &ca.pair, &req, on_done, &srv, &err), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(srv.rc, 0);
  assert_true(certs_signed_by(srv.pair.cert_pem, ca.pair.cert_pem));
  assert_true(certs_covers(srv.pair.cert_pem, SANS, NULL));
  certs_pair_free(&srv.pair);
  certs_pair_free(&ca.pair);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ca_and_serving_certificate),
      cmocka_unit_test(test_rsa_client_certificate),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_async_runs_off_the_loop_and_reports_on_it),
  };
  return cmocka_run_group_tests_name("certs.pki", tests, NULL, NULL);
}
