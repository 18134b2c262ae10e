/* dns.editors: the CoreDNS Corefile and kube-dns ConfigMap editors, from the
 * configurations clusters really ship with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clusterdns/clusterdns.h"

/* kubeadm 1.3x's default Corefile (ConfigMap kube-system/coredns), then a
 * block a user added for their own zone. */
static const char KUBEADM_COREFILE[] = ".:53 {\n"
                                       "    errors\n"
                                       "    health {\n"
                                       "       lameduck 5s\n"
                                       "    }\n"
                                       "    ready\n"
                                       "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
                                       "       pods insecure\n"
                                       "       fallthrough in-addr.arpa ip6.arpa\n"
                                       "       ttl 30\n"
                                       "    }\n"
                                       "    prometheus :9153\n"
                                       "    forward . /etc/resolv.conf {\n"
                                       "       max_concurrent 1000\n"
                                       "    }\n"
                                       "    cache 30\n"
                                       "    loop\n"
                                       "    reload\n"
                                       "    loadbalance\n"
                                       "}\n"
                                       "consul.local:53 {\n"
                                       "    errors\n"
                                       "    cache 30\n"
                                       "    forward . 10.150.0.1\n"
                                       "}\n";

static const char FELLOWSHIP_BLOCK[] = "# BEGIN kubefed.dev fellowship\n"
                                       "example.com:53 {\n"
                                       "    errors\n"
                                       "    cache 30\n"
                                       "    forward . 10.0.0.10:53 10.0.0.11\n"
                                       "}\n"
                                       "# END kubefed.dev fellowship\n";

static const char ROHAN_BLOCK[] = "# BEGIN kubefed.dev rohan\n"
                                  "rohan.example.org:53 {\n"
                                  "    errors\n"
                                  "    cache 30\n"
                                  "    forward . [fd00::53]:5353\n"
                                  "}\n"
                                  "# END kubefed.dev rohan\n";

static const char *const FELLOWSHIP_NS[] = {"10.0.0.10:53", "10.0.0.11", NULL};
static const char *const ROHAN_NS[] = {"[fd00::53]:5353", NULL};
static const clusterdns_entry FELLOWSHIP = {.federation = "fellowship",
                                            .zone = "example.com.",
                                            .nameservers = FELLOWSHIP_NS};
static const clusterdns_entry ROHAN = {.federation = "rohan", .zone = "Rohan.Example.org", .nameservers = ROHAN_NS};

static char *cat(const char *a, const char *b, const char *c) {
  size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
  char *s = malloc(la + lb + lc + 1);
  assert_non_null(s);
  memcpy(s, a, la);
  memcpy(s + la, b, lb);
  memcpy(s + la + lb, c, lc + 1);
  return s;
}

/* LF -> CRLF, for the Windows-edited Corefiles people do apply. */
static char *crlf(const char *s) {
  char *d = malloc(strlen(s) * 2 + 1), *p = d;
  assert_non_null(d);
  for (; *s; s++) {
    if (*s == '\n') *p++ = '\r';
    *p++ = *s;
  }
  *p = '\0';
  return d;
}

static char *add_ok(const char *corefile, const clusterdns_entry *e) {
  char *out = NULL;
  kf_error err;
  kf_error_clear(&err);
  int rc = clusterdns_corefile_add(corefile, e, &out, &err);
  if (rc) fail_msg("clusterdns_corefile_add: %d %s", rc, err.msg);
  assert_non_null(out);
  return out;
}

static char *remove_ok(const char *corefile, const char *federation) {
  char *out = NULL;
  kf_error err;
  kf_error_clear(&err);
  int rc = clusterdns_corefile_remove(corefile, federation, &out, &err);
  if (rc) fail_msg("clusterdns_corefile_remove: %d %s", rc, err.msg);
  assert_non_null(out);
  return out;
}

static void add_fails(const char *corefile, const clusterdns_entry *e, int code, const char *msg_part) {
  char *out = (char *)"untouched";
  kf_error err;
  kf_error_clear(&err);
  assert_int_equal(clusterdns_corefile_add(corefile, e, &out, &err), code);
  assert_null(out);
  assert_int_equal(err.code, code);
  if (msg_part && !strstr(err.msg, msg_part)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg_part);
}

static void test_corefile_add_and_exact_remove(void **state) {
  (void)state;
  char *added = add_ok(KUBEADM_COREFILE, &FELLOWSHIP);
  char *want = cat(KUBEADM_COREFILE, "\n", FELLOWSHIP_BLOCK);
  assert_string_equal(added, want);
  assert_true(clusterdns_corefile_has(added, &FELLOWSHIP));
  assert_false(clusterdns_corefile_has(KUBEADM_COREFILE, &FELLOWSHIP));
  const char *const other_ns[] = {"10.0.0.12", NULL};
  clusterdns_entry moved = FELLOWSHIP;
  moved.nameservers = other_ns;
  assert_false(clusterdns_corefile_has(added, &moved));

  char *back = remove_ok(added, "fellowship");
  assert_int_equal(strlen(back), strlen(KUBEADM_COREFILE));
  assert_memory_equal(back, KUBEADM_COREFILE, sizeof(KUBEADM_COREFILE));
  /* Nothing of ours: an unchanged copy. */
  char *again = remove_ok(back, "fellowship");
  assert_string_equal(again, KUBEADM_COREFILE);
  free(again);
  free(back);
  free(want);
  free(added);
}

static void test_corefile_idempotent_and_replaced_in_place(void **state) {
  (void)state;
  char *once = add_ok(KUBEADM_COREFILE, &FELLOWSHIP);
  char *twice = add_ok(once, &FELLOWSHIP);
  assert_string_equal(once, twice);

  /* The federation's nameservers change: same place, new content. */
  const char *const other_ns[] = {"10.0.0.12", NULL};
  clusterdns_entry moved = FELLOWSHIP;
  moved.nameservers = other_ns;
  char *replaced = add_ok(once, &moved);
  assert_non_null(strstr(replaced, "    forward . 10.0.0.12\n}\n# END kubefed.dev fellowship\n"));
  assert_null(strstr(replaced, "10.0.0.11"));
  assert_int_equal(strlen(replaced), strlen(once) - strlen(" 10.0.0.10:53 10.0.0.11") + strlen(" 10.0.0.12"));
  assert_true(clusterdns_corefile_has(replaced, &moved));
  assert_false(clusterdns_corefile_has(replaced, &FELLOWSHIP));
  char *back = remove_ok(replaced, "fellowship");
  assert_string_equal(back, KUBEADM_COREFILE);
  free(back);
  free(replaced);
  free(twice);
  free(once);
}

static void test_corefile_two_federations(void **state) {
  (void)state;
  char *a = add_ok(KUBEADM_COREFILE, &FELLOWSHIP);
  char *ab = add_ok(a, &ROHAN);
  char *want = cat(a, "\n", ROHAN_BLOCK);
  assert_string_equal(ab, want);
  assert_true(clusterdns_corefile_has(ab, &FELLOWSHIP));
  assert_true(clusterdns_corefile_has(ab, &ROHAN));

  /* Each removal touches only its own block, in either order. */
  char *b_only = remove_ok(ab, "fellowship");
  char *b_direct = add_ok(KUBEADM_COREFILE, &ROHAN);
  assert_string_equal(b_only, b_direct);
  char *none = remove_ok(b_only, "rohan");
  assert_string_equal(none, KUBEADM_COREFILE);
  char *a_only = remove_ok(ab, "rohan");
  assert_string_equal(a_only, a);
  char *none2 = remove_ok(a_only, "fellowship");
  assert_string_equal(none2, KUBEADM_COREFILE);

  /* A federation name that is a prefix of another is not that one. */
  clusterdns_entry fellow = {.federation = "fellow", .zone = "fellow.example.net", .nameservers = ROHAN_NS};
  char *three = add_ok(ab, &fellow);
  char *without = remove_ok(three, "fellow");
  assert_string_equal(without, ab);
  free(without);
  free(three);
  free(none2);
  free(a_only);
  free(none);
  free(b_direct);
  free(b_only);
  free(want);
  free(ab);
  free(a);
}

static void test_corefile_zone_already_served(void **state) {
  (void)state;
  static const char *const clashing[] = {
      "example.com:53 {\n    forward . 8.8.8.8\n}\n", "example.com {\n    forward . 8.8.8.8\n}\n",
      "dns://Example.COM.:53 {\n    whoami\n}\n",     "foo.org, example.com {\n    whoami\n}\n",
      "foo.org,\nexample.com:53 {\n    whoami\n}\n",
  };
  static const char *const lines[] = {"line 26", "line 26", "line 26", "line 26", "line 27"};
  for (size_t i = 0; i < sizeof(clashing) / sizeof(clashing[0]); i++) {
    char *user = cat(KUBEADM_COREFILE, clashing[i], "");
    add_fails(user, &FELLOWSHIP, -EINVAL, "example.com");
    add_fails(user, &FELLOWSHIP, -EINVAL, lines[i]);
    free(user);
  }
  /* Not the same server: another port, transport or zone, or a comment. */
  static const char *const fine[] = {
      "example.com:1053 {\n    whoami\n}\n",
      "tls://example.com {\n    whoami\n}\n",
      "sub.example.com:53 {\n    whoami\n}\n",
      "# example.com:53 {\n",
      "rohan.org {\n    rewrite name example.com foo.org\n    forward . \"example.com\"\n}\n",
  };
  for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
    char *user = cat(KUBEADM_COREFILE, fine[i], "");
    char *out = add_ok(user, &FELLOWSHIP);
    char *back = remove_ok(out, "fellowship");
    assert_string_equal(back, user);
    free(back);
    free(out);
    free(user);
  }

  /* Another federation's block for the same zone clashes too: CoreDNS would
   * refuse to start with both. */
  char *a = add_ok(KUBEADM_COREFILE, &FELLOWSHIP);
  clusterdns_entry gondor = {.federation = "gondor", .zone = "example.com", .nameservers = ROHAN_NS};
  add_fails(a, &gondor, -EINVAL, "federation gondor");
  free(a);
}

static void test_corefile_refuses_broken_files(void **state) {
  (void)state;
  char *out;
  kf_error err;
  /* Our markers out of balance: where our block ends would be a guess. */
  static const char *const bad_markers[] = {
      "# BEGIN kubefed.dev fellowship\n.:53 {\n}\n",
      ".:53 {\n}\n# END kubefed.dev fellowship\n",
      "# END kubefed.dev fellowship\n# BEGIN kubefed.dev fellowship\n",
  };
  for (size_t i = 0; i < sizeof(bad_markers) / sizeof(bad_markers[0]); i++) {
    add_fails(bad_markers[i], &FELLOWSHIP, -EINVAL, "markers");
    out = (char *)"untouched";
    assert_int_equal(clusterdns_corefile_remove(bad_markers[i], "fellowship", &out, &err), -EINVAL);
    assert_null(out);
    assert_false(clusterdns_corefile_has(bad_markers[i], &FELLOWSHIP));
  }
  char *dup = cat(FELLOWSHIP_BLOCK, "\n", FELLOWSHIP_BLOCK);
  add_fails(dup, &FELLOWSHIP, -EINVAL, "markers");
  free(dup);
  /* Someone else's markers do not concern us. */
  char *other = add_ok("# BEGIN kubefed.dev rohan\n", &FELLOWSHIP);
  free(other);

  /* Files our block would land inside of. */
  add_fails(".:53 {\n    errors\n", &FELLOWSHIP, -EINVAL, "unclosed");
  add_fails(".:53 {\n}\n}\n", &FELLOWSHIP, -EINVAL, "line 3");
  add_fails(".:53 {\n    forward . \"/etc/resolv.conf\n}\n", &FELLOWSHIP, -EINVAL, "quoted");
  add_fails(".:53 {\n}\nexample.org\n", &FELLOWSHIP, -EINVAL, "no \"{\"");
  /* But remove never needs to understand them. */
  char *kept = remove_ok(".:53 {\n", "fellowship");
  assert_string_equal(kept, ".:53 {\n");
  free(kept);

  /* Top-level imports (AKS, k3s) are not server blocks. */
  char *imp = add_ok("import custom/*.server\n.:53 {\n    import custom/*.override\n}\n", &FELLOWSHIP);
  free(imp);
}

static void test_corefile_line_endings_and_edges(void **state) {
  (void)state;
  /* CRLF file: our lines are CRLF too, and removal is exact. */
  char *win = crlf(KUBEADM_COREFILE);
  char *added = add_ok(win, &FELLOWSHIP);
  char *block = crlf(FELLOWSHIP_BLOCK);
  char *want = cat(win, "\r\n", block);
  assert_string_equal(added, want);
  assert_true(clusterdns_corefile_has(added, &FELLOWSHIP));
  char *both = add_ok(added, &ROHAN);
  char *rohan_crlf = crlf(ROHAN_BLOCK);
  assert_non_null(strstr(both, rohan_crlf));
  char *back = remove_ok(both, "fellowship");
  char *back2 = remove_ok(back, "rohan");
  assert_string_equal(back2, win);
  free(back2);
  free(back);
  free(rohan_crlf);
  free(both);
  free(want);
  free(block);
  free(added);
  free(win);

  /* No final newline: ours goes last, also without one. */
  static const char no_nl[] = ".:53 {\n    whoami\n}";
  added = add_ok(no_nl, &FELLOWSHIP);
  want = cat(no_nl, "\n\n", FELLOWSHIP_BLOCK);
  want[strlen(want) - 1] = '\0';
  assert_string_equal(added, want);
  assert_true(clusterdns_corefile_has(added, &FELLOWSHIP));
  back = remove_ok(added, "fellowship");
  assert_string_equal(back, no_nl);
  free(back);
  free(want);
  free(added);

  /* Trailing blank lines stay at the end, after our block. */
  static const char trailing[] = ".:53 {\n    whoami\n}\n\n\n";
  added = add_ok(trailing, &FELLOWSHIP);
  want = cat(".:53 {\n    whoami\n}\n\n", FELLOWSHIP_BLOCK, "\n\n");
  assert_string_equal(added, want);
  back = remove_ok(added, "fellowship");
  assert_string_equal(back, trailing);
  free(back);
  free(want);
  free(added);

  /* An empty Corefile gets just our block. */
  added = add_ok("", &FELLOWSHIP);
  assert_string_equal(added, FELLOWSHIP_BLOCK);
  back = remove_ok(added, "fellowship");
  assert_string_equal(back, "");
  free(back);
  free(added);
}

static void test_corefile_bad_input(void **state) {
  (void)state;
  char *out = NULL;
  kf_error err;
  const char *const none[] = {NULL};
  const char *const host[] = {"ns1.example.com", NULL};
  const char *const bad_port[] = {"10.0.0.1:99999", NULL};
  const char *const injected[] = {"10.0.0.1\n}\n.:53 {", NULL};
  const char *const spaced[] = {"10.0.0.1 10.0.0.2", NULL};
  /* Nothing a pod can forward to (issue 17, B3). */
  const char *const unspecified4[] = {"0.0.0.0:53", NULL}, *const unspecified6[] = {"[::]:53", NULL};
  const char *const link_local4[] = {"169.254.169.254", NULL}, *const link_local6[] = {"[fe80::1]:53", NULL};
  const char *const multicast4[] = {"224.0.0.251:5353", NULL}, *const multicast6[] = {"ff02::fb", NULL};
  const char *const sixteen[] = {"10.0.0.1",  "10.0.0.2",  "10.0.0.3",  "10.0.0.4",  "10.0.0.5",  "10.0.0.6",
                                 "10.0.0.7",  "10.0.0.8",  "10.0.0.9",  "10.0.0.10", "10.0.0.11", "10.0.0.12",
                                 "10.0.0.13", "10.0.0.14", "10.0.0.15", "10.0.0.16", NULL};
  const clusterdns_entry bad[] = {
      {.federation = NULL, .zone = "example.com", .nameservers = FELLOWSHIP_NS},
      {.federation = "Fellowship", .zone = "example.com", .nameservers = FELLOWSHIP_NS},
      {.federation = "fellow ship", .zone = "example.com", .nameservers = FELLOWSHIP_NS},
      {.federation = "fellowship", .zone = NULL, .nameservers = FELLOWSHIP_NS},
      {.federation = "fellowship", .zone = ".", .nameservers = FELLOWSHIP_NS},
      {.federation = "fellowship", .zone = "exa mple.com", .nameservers = FELLOWSHIP_NS},
      {.federation = "fellowship", .zone = "example..com", .nameservers = FELLOWSHIP_NS},
      {.federation = "fellowship", .zone = "example.com", .nameservers = NULL},
      {.federation = "fellowship", .zone = "example.com", .nameservers = none},
      {.federation = "fellowship", .zone = "example.com", .nameservers = host},
      {.federation = "fellowship", .zone = "example.com", .nameservers = bad_port},
      {.federation = "fellowship", .zone = "example.com", .nameservers = injected},
      {.federation = "fellowship", .zone = "example.com", .nameservers = spaced},
      {.federation = "fellowship", .zone = "example.com", .nameservers = unspecified4},
      {.federation = "fellowship", .zone = "example.com", .nameservers = unspecified6},
      {.federation = "fellowship", .zone = "example.com", .nameservers = link_local4},
      {.federation = "fellowship", .zone = "example.com", .nameservers = link_local6},
      {.federation = "fellowship", .zone = "example.com", .nameservers = multicast4},
      {.federation = "fellowship", .zone = "example.com", .nameservers = multicast6},
      {.federation = "fellowship", .zone = "example.com", .nameservers = sixteen},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    add_fails(KUBEADM_COREFILE, &bad[i], -EINVAL, NULL);
    assert_false(clusterdns_corefile_has(KUBEADM_COREFILE, &bad[i]));
  }
  add_fails(KUBEADM_COREFILE, NULL, -EINVAL, NULL);
  add_fails(NULL, &FELLOWSHIP, -EINVAL, "Corefile");
  assert_int_equal(clusterdns_corefile_add(KUBEADM_COREFILE, &FELLOWSHIP, NULL, &err), -EINVAL);
  assert_int_equal(clusterdns_corefile_remove(NULL, "fellowship", &out, &err), -EINVAL);
  assert_int_equal(clusterdns_corefile_remove(KUBEADM_COREFILE, NULL, &out, &err), -EINVAL);
  assert_int_equal(clusterdns_corefile_remove(KUBEADM_COREFILE, "a\nb", &out, &err), -EINVAL);
  assert_false(clusterdns_corefile_has(NULL, &FELLOWSHIP));
  assert_false(clusterdns_corefile_has(KUBEADM_COREFILE, NULL));

  /* Bounded: a ConfigMap cannot hold more than 1 MiB anyway. */
  char *big = malloc(DNS_MAX_CONFIG_BYTES + 2);
  assert_non_null(big);
  memset(big, '#', DNS_MAX_CONFIG_BYTES + 1);
  big[DNS_MAX_CONFIG_BYTES + 1] = '\0';
  add_fails(big, &FELLOWSHIP, -EFBIG, NULL);
  assert_int_equal(clusterdns_corefile_remove(big, "fellowship", &out, &err), -EFBIG);
  assert_false(clusterdns_corefile_has(big, &FELLOWSHIP));
  /* Exactly at the limit is accepted, but may not grow past it. */
  big[DNS_MAX_CONFIG_BYTES - 1] = '\n';
  big[DNS_MAX_CONFIG_BYTES] = '\0';
  add_fails(big, &FELLOWSHIP, -EFBIG, "grow");
  free(big);

  /* IPv6, bare and bracketed, with and without ports, are fine. */
  const char *const v6[] = {"fd00::10", "[fd00::10]", "[fd00::10]:53", "10.0.0.1:5353", NULL};
  clusterdns_entry e6 = {.federation = "fellowship", .zone = "example.com", .nameservers = v6};
  char *added = add_ok(KUBEADM_COREFILE, &e6);
  assert_non_null(strstr(added, "forward . fd00::10 [fd00::10] [fd00::10]:53 10.0.0.1:5353\n"));
  free(added);
}

/* ---- kube-dns ---- */

static json_object *kubedns_data(const char *federations, const char *stubs) {
  json_object *d = json_object_new_object();
  json_object_object_add(d, "upstreamNameservers", json_object_new_string("[\"8.8.8.8\", \"8.8.4.4\"]"));
  if (federations) json_object_object_add(d, "federations", json_object_new_string(federations));
  if (stubs) json_object_object_add(d, "stubDomains", json_object_new_string(stubs));
  return d;
}

/* What the caller's merge patch does with *out. */
static void apply(json_object *data, json_object *patch) {
  json_object_object_foreach (patch, key, val) {
    if (val) json_object_object_add(data, key, json_object_get(val));
    else json_object_object_del(data, key);
  }
}

static const char *str(json_object *o, const char *key) {
  json_object *v = NULL;
  if (!json_object_object_get_ex(o, key, &v)) return "<absent>";
  return v ? json_object_get_string(v) : "<null>";
}

static void test_kubedns_add_and_remove(void **state) {
  (void)state;
  json_object *data = kubedns_data(NULL, "{\"acme.local\": [\"1.2.3.4\"]}"), *out = NULL, *again = NULL;
  kf_error err;
  assert_false(clusterdns_kubedns_has(data, &FELLOWSHIP));
  assert_int_equal(clusterdns_kubedns_add(data, &FELLOWSHIP, &out, &err), 0);
  assert_int_equal(json_object_object_length(out), 2);
  assert_string_equal(str(out, "federations"), "fellowship=example.com");
  assert_string_equal(str(out, "stubDomains"),
                      "{\"acme.local\":[\"1.2.3.4\"],\"example.com\":[\"10.0.0.10:53\",\"10.0.0.11\"]}");
  apply(data, out);
  assert_true(clusterdns_kubedns_has(data, &FELLOWSHIP));
  assert_string_equal(str(data, "upstreamNameservers"), "[\"8.8.8.8\", \"8.8.4.4\"]");

  /* Idempotent: the same values again, byte for byte. */
  assert_int_equal(clusterdns_kubedns_add(data, &FELLOWSHIP, &again, &err), 0);
  assert_string_equal(str(again, "federations"), str(data, "federations"));
  assert_string_equal(str(again, "stubDomains"), str(data, "stubDomains"));
  json_object_put(again);
  json_object_put(out);

  /* federations did not exist: we delete it; the user's stubDomains stays. */
  const char *const created[] = {"federations", NULL};
  assert_int_equal(clusterdns_kubedns_remove(data, &FELLOWSHIP, created, &out, &err), 0);
  assert_int_equal(json_object_object_length(out), 2);
  assert_string_equal(str(out, "federations"), "<null>");
  assert_string_equal(str(out, "stubDomains"), "{\"acme.local\":[\"1.2.3.4\"]}");
  apply(data, out);
  json_object_put(out);
  assert_string_equal(str(data, "federations"), "<absent>");
  assert_false(clusterdns_kubedns_has(data, &FELLOWSHIP));
  /* Nothing of ours left: nothing to write. */
  assert_int_equal(clusterdns_kubedns_remove(data, &FELLOWSHIP, created, &out, &err), 0);
  assert_int_equal(json_object_object_length(out), 0);
  json_object_put(out);
  json_object_put(data);
}

static void test_kubedns_created_keys_and_empty_values(void **state) {
  (void)state;
  json_object *data = kubedns_data("", NULL), *out = NULL;
  kf_error err;
  assert_int_equal(clusterdns_kubedns_add(data, &FELLOWSHIP, &out, &err), 0);
  assert_string_equal(str(out, "federations"), "fellowship=example.com");
  assert_string_equal(str(out, "stubDomains"), "{\"example.com\":[\"10.0.0.10:53\",\"10.0.0.11\"]}");
  apply(data, out);
  json_object_put(out);

  /* stubDomains is ours, federations was there ("" as kubefed v1 leaves it). */
  const char *const created[] = {"stubDomains", NULL};
  assert_int_equal(clusterdns_kubedns_remove(data, &FELLOWSHIP, created, &out, &err), 0);
  assert_string_equal(str(out, "federations"), "");
  assert_string_equal(str(out, "stubDomains"), "<null>");
  json_object_put(out);
  /* Not told we created them: emptied, not deleted. */
  assert_int_equal(clusterdns_kubedns_remove(data, &FELLOWSHIP, NULL, &out, &err), 0);
  assert_string_equal(str(out, "federations"), "");
  assert_string_equal(str(out, "stubDomains"), "{}");
  json_object_put(out);
  json_object_put(data);

  /* Blanks around are given back as found. */
  data = kubedns_data("  ", NULL);
  clusterdns_entry plain = {.federation = "fellowship", .zone = "example.com"};
  assert_int_equal(clusterdns_kubedns_add(data, &plain, &out, &err), 0);
  assert_int_equal(json_object_object_length(out), 1);
  assert_string_equal(str(out, "federations"), "  fellowship=example.com");
  apply(data, out);
  json_object_put(out);
  assert_int_equal(clusterdns_kubedns_remove(data, &plain, NULL, &out, &err), 0);
  assert_string_equal(str(out, "federations"), "  ");
  json_object_put(out);
  json_object_put(data);

  /* No ConfigMap data at all, and a provider without nameservers. */
  assert_int_equal(clusterdns_kubedns_add(NULL, &plain, &out, &err), 0);
  assert_int_equal(json_object_object_length(out), 1);
  assert_string_equal(str(out, "federations"), "fellowship=example.com");
  json_object_put(out);
  assert_int_equal(clusterdns_kubedns_remove(NULL, &plain, NULL, &out, &err), 0);
  assert_int_equal(json_object_object_length(out), 0);
  json_object_put(out);
}

static void test_kubedns_two_federations(void **state) {
  (void)state;
  json_object *data = kubedns_data("gondor=gondor.example.net", "{\"acme.local\":[\"1.2.3.4\"]}"), *out = NULL;
  kf_error err;
  assert_int_equal(clusterdns_kubedns_add(data, &FELLOWSHIP, &out, &err), 0);
  apply(data, out);
  json_object_put(out);
  assert_int_equal(clusterdns_kubedns_add(data, &ROHAN, &out, &err), 0);
  apply(data, out);
  json_object_put(out);
  assert_string_equal(str(data, "federations"),
                      "gondor=gondor.example.net,fellowship=example.com,rohan=rohan.example.org");
  assert_string_equal(str(data, "stubDomains"),
                      "{\"acme.local\":[\"1.2.3.4\"],\"example.com\":[\"10.0.0.10:53\",\"10.0.0.11\"],"
                      "\"rohan.example.org\":[\"[fd00::53]:5353\"]}");
  assert_true(clusterdns_kubedns_has(data, &FELLOWSHIP));
  assert_true(clusterdns_kubedns_has(data, &ROHAN));

  const char *const created[] = {"federations", "stubDomains", NULL};
  assert_int_equal(clusterdns_kubedns_remove(data, &FELLOWSHIP, created, &out, &err), 0);
  apply(data, out);
  json_object_put(out);
  assert_string_equal(str(data, "federations"), "gondor=gondor.example.net,rohan=rohan.example.org");
  assert_string_equal(str(data, "stubDomains"),
                      "{\"acme.local\":[\"1.2.3.4\"],\"rohan.example.org\":[\"[fd00::53]:5353\"]}");
  assert_true(clusterdns_kubedns_has(data, &ROHAN));
  assert_int_equal(clusterdns_kubedns_remove(data, &ROHAN, created, &out, &err), 0);
  apply(data, out);
  json_object_put(out);
  assert_string_equal(str(data, "federations"), "gondor=gondor.example.net");
  assert_string_equal(str(data, "stubDomains"), "{\"acme.local\":[\"1.2.3.4\"]}");
  json_object_put(data);

  /* Ours first in the list: removed with the comma after it. */
  data = kubedns_data("fellowship=example.com, gondor=gondor.example.net", NULL);
  clusterdns_entry plain = {.federation = "fellowship", .zone = "example.com."};
  assert_true(clusterdns_kubedns_has(data, &plain));
  assert_int_equal(clusterdns_kubedns_remove(data, &plain, NULL, &out, &err), 0);
  assert_string_equal(str(out, "federations"), " gondor=gondor.example.net");
  json_object_put(out);
  json_object_put(data);
}

static void test_kubedns_replaces_ours(void **state) {
  (void)state;
  json_object *data, *out = NULL;
  kf_error err;
  /* Our name with another zone (the Federation's zone changed): replaced in place. */
  data = kubedns_data("a=a.org, fellowship=old.example.com ,b=b.org", NULL);
  clusterdns_entry plain = {.federation = "fellowship", .zone = "example.com"};
  assert_false(clusterdns_kubedns_has(data, &plain));
  assert_int_equal(clusterdns_kubedns_add(data, &plain, &out, &err), 0);
  assert_string_equal(str(out, "federations"), "a=a.org, fellowship=example.com ,b=b.org");
  json_object_put(out);
  json_object_put(data);

  /* Our nameservers changed: federations says the zone's stub is ours. */
  data = kubedns_data("fellowship=example.com", "{\"example.com\":[\"10.9.9.9\"],\"acme.local\":[\"1.2.3.4\"]}");
  assert_false(clusterdns_kubedns_has(data, &FELLOWSHIP));
  assert_int_equal(clusterdns_kubedns_add(data, &FELLOWSHIP, &out, &err), 0);
  assert_string_equal(str(out, "federations"), "fellowship=example.com");
  assert_string_equal(str(out, "stubDomains"),
                      "{\"example.com\":[\"10.0.0.10:53\",\"10.0.0.11\"],\"acme.local\":[\"1.2.3.4\"]}");
  json_object_put(out);
  assert_int_equal(clusterdns_kubedns_remove(data, &FELLOWSHIP, NULL, &out, &err), 0);
  assert_string_equal(str(out, "stubDomains"), "{\"acme.local\":[\"1.2.3.4\"]}");
  json_object_put(out);
  json_object_put(data);
}

static void test_kubedns_refuses(void **state) {
  (void)state;
  json_object *data, *out, *sentinel = json_object_new_object();
  kf_error err;
  /* The zone is the user's stub domain: not ours to overwrite. */
  data = kubedns_data(NULL, "{\"acme.local\":[\"1.2.3.4\"],\"Example.com.\":[\"9.9.9.9\"]}");
  out = sentinel;
  kf_error_clear(&err);
  assert_int_equal(clusterdns_kubedns_add(data, &FELLOWSHIP, &out, &err), -EINVAL);
  assert_null(out);
  assert_non_null(strstr(err.msg, "example.com"));
  assert_false(clusterdns_kubedns_has(data, &FELLOWSHIP));
  /* ...and not ours to remove either. */
  assert_int_equal(clusterdns_kubedns_remove(data, &FELLOWSHIP, NULL, &out, &err), 0);
  assert_int_equal(json_object_object_length(out), 0);
  json_object_put(out);
  json_object_put(data);

  static const char *const bad_stubs[] = {
      "",
      " ",
      "{",
      "[\"1.2.3.4\"]",
      "{\"a\": \"1.2.3.4\"}",
      "{\"a\": [1]}",
      "{\"a\": [\"1.2.3.4\"]} x",
      "{'a': ['1.2.3.4']}",
      "{\"a\":[\"1\"],\"A.\":[\"2\"],\"example.com\":[\"1\"],\"example.com.\":[\"2\"]}",
  };
  for (size_t i = 0; i < sizeof(bad_stubs) / sizeof(bad_stubs[0]); i++) {
    data = kubedns_data(NULL, bad_stubs[i]);
    kf_error_clear(&err);
    assert_int_equal(clusterdns_kubedns_add(data, &FELLOWSHIP, &out, &err), -EINVAL);
    assert_null(out);
    assert_non_null(strstr(err.msg, "stubDomains"));
    assert_int_equal(clusterdns_kubedns_remove(data, &FELLOWSHIP, NULL, &out, &err), -EINVAL);
    /* Without nameservers stubDomains is none of our business. */
    clusterdns_entry plain = {.federation = "fellowship", .zone = "example.com"};
    assert_int_equal(clusterdns_kubedns_add(data, &plain, &out, &err), 0);
    json_object_put(out);
    json_object_put(data);
  }

  static const char *const bad_feds[] = {"a=x.org,b", "a=x.org,,b=y.org",
                                         "=x.org",    "a=",
                                         "a=x.org,",  "fellowship=example.com,fellowship=example.org"};
  for (size_t i = 0; i < sizeof(bad_feds) / sizeof(bad_feds[0]); i++) {
    data = kubedns_data(bad_feds[i], NULL);
    kf_error_clear(&err);
    assert_int_equal(clusterdns_kubedns_add(data, &FELLOWSHIP, &out, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "federations"));
    assert_int_equal(clusterdns_kubedns_remove(data, &FELLOWSHIP, NULL, &out, &err), -EINVAL);
    assert_false(clusterdns_kubedns_has(data, &FELLOWSHIP));
    json_object_put(data);
  }

  /* Values that are not strings, data that is not an object. */
  data = json_object_new_object();
  json_object_object_add(data, "stubDomains", json_object_new_int(3));
  assert_int_equal(clusterdns_kubedns_add(data, &FELLOWSHIP, &out, &err), -EINVAL);
  json_object_put(data);
  data = json_object_new_array();
  assert_int_equal(clusterdns_kubedns_add(data, &FELLOWSHIP, &out, &err), -EINVAL);
  assert_int_equal(clusterdns_kubedns_remove(data, &FELLOWSHIP, NULL, &out, &err), -EINVAL);
  assert_false(clusterdns_kubedns_has(data, &FELLOWSHIP));
  json_object_put(data);
  assert_int_equal(clusterdns_kubedns_add(NULL, NULL, &out, &err), -EINVAL);
  assert_int_equal(clusterdns_kubedns_add(NULL, &FELLOWSHIP, NULL, &err), -EINVAL);
  assert_false(clusterdns_kubedns_has(NULL, NULL));
  json_object_put(sentinel);
}

/* ---- the nameservers a member may forward to (issue 17, B3) and the port (D2) ---- */

static void test_nameserver_kinds(void **state) {
  (void)state;
  static const struct {
    const char *ns;
    int port;
    clusterdns_ns_kind want;
  } cases[] = {
      {"10.0.0.10", 53, CLUSTERDNS_NS_OK},
      {"10.0.0.10:53", 53, CLUSTERDNS_NS_OK},
      {"[fd00::10]:53", 53, CLUSTERDNS_NS_OK},
      {"8.8.8.8", 5353, CLUSTERDNS_NS_OK},
      /* The shipped example's old value: on a member that is CoreDNS forwarding to itself. */
      {"127.0.0.53:53", 53, CLUSTERDNS_NS_SELF},
      {"127.0.0.1", 53, CLUSTERDNS_NS_SELF}, /* no port: 53 */
      {"127.1.2.3:53", 53, CLUSTERDNS_NS_SELF},
      {"::1", 53, CLUSTERDNS_NS_SELF},
      {"[::1]:53", 53, CLUSTERDNS_NS_SELF},
      {"[::ffff:127.0.0.1]:53", 53, CLUSTERDNS_NS_SELF},
      {"127.0.0.1:5353", 5353, CLUSTERDNS_NS_SELF},
      {"127.0.0.1:53", 5353, CLUSTERDNS_NS_LOOPBACK},
      {"127.0.0.1:15353", 53, CLUSTERDNS_NS_LOOPBACK}, /* a single-host setup: the tests' */
      {"[::1]:15353", 53, CLUSTERDNS_NS_LOOPBACK},
      {"0.0.0.0", 53, CLUSTERDNS_NS_INVALID},
      {"0.0.0.0:15353", 53, CLUSTERDNS_NS_INVALID},
      {"::", 53, CLUSTERDNS_NS_INVALID},
      {"169.254.0.1:53", 53, CLUSTERDNS_NS_INVALID},
      {"[fe80::1]:53", 53, CLUSTERDNS_NS_INVALID},
      {"febf::1", 53, CLUSTERDNS_NS_INVALID},
      {"224.0.0.251", 53, CLUSTERDNS_NS_INVALID},
      {"ff02::fb", 53, CLUSTERDNS_NS_INVALID},
      {"localhost:53", 53, CLUSTERDNS_NS_INVALID},
      {"", 53, CLUSTERDNS_NS_INVALID},
      {NULL, 53, CLUSTERDNS_NS_INVALID},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    clusterdns_ns_kind got = clusterdns_nameserver_kind(cases[i].ns, cases[i].port);
    if (got != cases[i].want)
      fail_msg("%s on port %d: kind %d, want %d", cases[i].ns ? cases[i].ns : "(null)", cases[i].port, got,
               cases[i].want);
  }

  kf_error err;
  const char *loopback = "untouched";
  const char *const fine[] = {"10.0.0.10", "127.0.0.1:15353", "[::1]:15354", NULL};
  assert_int_equal(clusterdns_check_nameservers(fine, 53, &loopback, &err), 0);
  assert_string_equal(loopback, "127.0.0.1:15353");
  const char *const remote[] = {"10.0.0.10", NULL};
  assert_int_equal(clusterdns_check_nameservers(remote, 53, &loopback, &err), 0);
  assert_null(loopback);
  assert_int_equal(clusterdns_check_nameservers(NULL, 53, &loopback, &err), 0);
  const char *const self[] = {"10.0.0.10", "127.0.0.53:53", NULL};
  assert_int_equal(clusterdns_check_nameservers(self, 53, NULL, &err), -ELOOP);
  assert_non_null(strstr(err.msg, "127.0.0.53:53"));
  assert_non_null(strstr(err.msg, "itself"));
  const char *const link_local[] = {"169.254.169.254", NULL};
  assert_int_equal(clusterdns_check_nameservers(link_local, 53, NULL, &err), -EINVAL);
}

static void test_corefile_refuses_forward_loops(void **state) {
  (void)state;
  static const char *const self53[][2] = {{"127.0.0.53:53", NULL}, {"127.0.0.1", NULL}, {"[::1]:53", NULL}};
  for (size_t i = 0; i < sizeof(self53) / sizeof(self53[0]); i++) {
    clusterdns_entry e = {.federation = "fellowship", .zone = "example.com.", .nameservers = self53[i]};
    add_fails(KUBEADM_COREFILE, &e, -ELOOP, "loopback");
    add_fails(KUBEADM_COREFILE, &e, -ELOOP, "port 53");
  }
  /* Another loopback port is allowed (the Warning is the reconciler's), unless CoreDNS serves there. */
  const char *const high[] = {"127.0.0.1:15353", NULL};
  clusterdns_entry e = {.federation = "fellowship", .zone = "example.com.", .nameservers = high};
  char *out = add_ok(KUBEADM_COREFILE, &e);
  assert_non_null(strstr(out, "forward . 127.0.0.1:15353\n"));
  assert_true(clusterdns_corefile_has(out, &e));
  free(out);
  static const char ROOT_15353[] = ".:15353 {\n    forward . /etc/resolv.conf\n}\n";
  add_fails(ROOT_15353, &e, -ELOOP, "port 15353");

  /* kube-dns serves on 53: the same rule there; removing such an entry still works. */
  kf_error err;
  json_object *data = kubedns_data(NULL, NULL), *patch = NULL;
  e.nameservers = self53[0];
  assert_int_equal(clusterdns_kubedns_add(data, &e, &patch, &err), -ELOOP);
  assert_null(patch);
  json_object_put(data);
  data = kubedns_data("fellowship=example.com", "{\"example.com\":[\"127.0.0.53:53\"]}");
  assert_int_equal(clusterdns_kubedns_remove(data, &e, NULL, &patch, &err), 0);
  assert_string_equal(str(patch, "federations"), "");
  assert_string_equal(str(patch, "stubDomains"), "{}");
  json_object_put(patch);
  json_object_put(data);
}

static void test_corefile_port(void **state) {
  (void)state;
  clusterdns_corefile_facts f = {0};
  kf_error err;
  /* kubeadm's: 53, with reload. */
  assert_int_equal(clusterdns_corefile_inspect(KUBEADM_COREFILE, "fellowship", &f, &err), 0);
  assert_int_equal(f.port, 53);
  assert_true(f.reload);
  assert_int_equal(clusterdns_corefile_inspect("", "fellowship", &f, &err), 0);
  assert_int_equal(f.port, 53);
  assert_false(f.reload);

  /* CoreDNS as non-root on 5353 behind a 53 -> 5353 Service (OpenShift and others): ours
   * listens where the queries arrive, not on :53 (which it could not bind). */
  static const char NONROOT[] = ".:5353 {\n    errors\n    # reload\n    forward . /etc/resolv.conf\n}\n";
  assert_int_equal(clusterdns_corefile_inspect(NONROOT, "fellowship", &f, &err), 0);
  assert_int_equal(f.port, 5353);
  assert_false(f.reload); /* a comment is no plugin */
  char *out = add_ok(NONROOT, &FELLOWSHIP);
  assert_non_null(strstr(out, "\nexample.com:5353 {\n"));
  assert_null(strstr(out, ":53 {"));
  assert_true(clusterdns_corefile_has(out, &FELLOWSHIP));
  /* Inspecting the edited file leaves our block out: same answer. */
  assert_int_equal(clusterdns_corefile_inspect(out, "fellowship", &f, &err), 0);
  assert_int_equal(f.port, 5353);
  char *back = remove_ok(out, "fellowship");
  assert_string_equal(back, NONROOT);
  free(back);
  free(out);

  /* An old block of ours on :53 is rewritten in place on the port the root block serves. */
  char *old = cat(NONROOT, "\n", FELLOWSHIP_BLOCK);
  assert_false(clusterdns_corefile_has(old, &FELLOWSHIP));
  out = add_ok(old, &FELLOWSHIP);
  assert_non_null(strstr(out, "\nexample.com:5353 {\n"));
  assert_null(strstr(out, "example.com:53 {"));
  free(out);
  free(old);

  /* No root block: the other blocks decide. */
  static const char ZONES_ONLY[] = "cluster.local:1053 {\n    kubernetes\n}\nconsul.local:1053 {\n    whoami\n}\n";
  out = add_ok(ZONES_ONLY, &FELLOWSHIP);
  assert_non_null(strstr(out, "example.com:1053 {"));
  free(out);
  /* The root blocks decide over a zone block elsewhere (kubeadm's plus a user's on 1053). */
  char *mixed = cat(KUBEADM_COREFILE, "internal.example:1053 {\n    whoami\n}\n", "");
  out = add_ok(mixed, &FELLOWSHIP);
  assert_non_null(strstr(out, "example.com:53 {"));
  free(out);
  free(mixed);

  /* Blocks that disagree: which one do the member's queries reach? A condition, no edit. */
  static const char *const disagree[] = {
      ".:53 {\n    whoami\n}\n.:5353 {\n    whoami\n}\n",
      "dns://.:53 {\n    whoami\n}\n. {\n    whoami\n}\n.:54 {\n    whoami\n}\n",
      "a.org:53 {\n    whoami\n}\nb.org:5353 {\n    whoami\n}\n",
  };
  for (size_t i = 0; i < sizeof(disagree) / sizeof(disagree[0]); i++) {
    add_fails(disagree[i], &FELLOWSHIP, -EINVAL, "different ports");
    assert_int_equal(clusterdns_corefile_inspect(disagree[i], "fellowship", &f, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "different ports"));
  }
  /* Other transports listen elsewhere and do not vote. */
  out = add_ok(".:5353 {\n    whoami\n}\ntls://.:853 {\n    whoami\n}\n", &FELLOWSHIP);
  assert_non_null(strstr(out, "example.com:5353 {"));
  free(out);
  /* A block for our zone on our port clashes; on another port it does not. */
  add_fails(".:5353 {\n    whoami\n}\nexample.com:5353 {\n    whoami\n}\n", &FELLOWSHIP, -EINVAL, "port 5353");
  out = add_ok(".:5353 {\n    whoami\n}\nexample.com:53 {\n    whoami\n}\n", &FELLOWSHIP);
  free(out);
  assert_int_equal(clusterdns_corefile_inspect("}\n", "fellowship", &f, &err), -EINVAL);
  assert_int_equal(clusterdns_corefile_inspect(KUBEADM_COREFILE, "Bad Name", &f, &err), -EINVAL);
  assert_int_equal(clusterdns_corefile_inspect(KUBEADM_COREFILE, "fellowship", NULL, &err), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_corefile_add_and_exact_remove),
      cmocka_unit_test(test_corefile_idempotent_and_replaced_in_place),
      cmocka_unit_test(test_corefile_two_federations),
      cmocka_unit_test(test_corefile_zone_already_served),
      cmocka_unit_test(test_corefile_refuses_broken_files),
      cmocka_unit_test(test_corefile_line_endings_and_edges),
      cmocka_unit_test(test_corefile_bad_input),
      cmocka_unit_test(test_kubedns_add_and_remove),
      cmocka_unit_test(test_kubedns_created_keys_and_empty_values),
      cmocka_unit_test(test_kubedns_two_federations),
      cmocka_unit_test(test_kubedns_replaces_ours),
      cmocka_unit_test(test_kubedns_refuses),
      cmocka_unit_test(test_nameserver_kinds),
      cmocka_unit_test(test_corefile_refuses_forward_loops),
      cmocka_unit_test(test_corefile_port),
  };
  return cmocka_run_group_tests_name("dns.editors", tests, NULL, NULL);
}
