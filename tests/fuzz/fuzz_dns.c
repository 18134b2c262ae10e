/* libFuzzer target for the member DNS editors: arbitrary bytes as a CoreDNS
 * Corefile, and as the kube-dns ConfigMap's `federations` and `stubDomains`,
 * through add -> has -> add again -> remove. Whenever add succeeds on input
 * that held nothing of ours, removing gives the input back (the Corefile byte
 * for byte; kube-dns values byte for byte for `federations`, as the compact
 * form of the original for a re-serialized `stubDomains`), in either order
 * for two federations. The kube-dns plan (join then unjoin through the ConfigMap's bookkeeping
 * annotations) gives the data back exactly, and survives hostile annotations.
 *
 * run-fuzzer.sh compiles operator/runtime only, so the module under test comes in
 * as source here (its static helpers are then at hand for the checks too):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I operator/runtime \
 *     tests/fuzz/fuzz_dns.c operator/runtime/error.c $(pkg-config --cflags --libs json-c) -o /tmp/fuzz_dns
 *   cp -r tests/fuzz/corpus/dns /tmp/dns-corpus
 *   /tmp/fuzz_dns -max_total_time=30 /tmp/dns-corpus */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../reconcilers/clusterdns/common.c"
#include "../../reconcilers/clusterdns/corefile.c"
#include "../../reconcilers/clusterdns/kubedns.c"
#include "../../reconcilers/clusterdns/plan.c"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const A_NS[] = {"10.0.0.10:53", "10.0.0.11", NULL};
static const char *const A2_NS[] = {"fd00::10", NULL};
static const char *const B_NS[] = {"[fd00::53]:5353", NULL};
static const clusterdns_entry A = {.federation = "fellowship", .zone = "example.com.", .nameservers = A_NS};
static const clusterdns_entry A2 = {.federation = "fellowship", .zone = "example.com", .nameservers = A2_NS};
static const clusterdns_entry B = {.federation = "rohan", .zone = "rohan.example.org", .nameservers = B_NS};

/* A failure leaves nothing behind and says why. */
static void check_failure(int rc, const void *out, const kf_error *err) {
  CHECK(rc < 0 && out == NULL && err->code == rc && err->msg[0] != '\0');
}

static char *add(const char *x, const clusterdns_entry *e) {
  char *out = (char *)x;
  kf_error err;
  kf_error_clear(&err);
  int rc = clusterdns_corefile_add(x, e, &out, &err);
  if (rc) {
    check_failure(rc, out, &err);
    return NULL;
  }
  CHECK(out != NULL && clusterdns_corefile_has(out, e));
  return out;
}

static char *del(const char *x, const char *federation) {
  char *out = (char *)x;
  kf_error err;
  kf_error_clear(&err);
  int rc = clusterdns_corefile_remove(x, federation, &out, &err);
  if (rc) {
    check_failure(rc, out, &err);
    return NULL;
  }
  CHECK(out != NULL);
  return out;
}

/* x holds no block of federation (and no stray marker of it). */
static int clean(const char *x, const char *federation) {
  char *r = del(x, federation);
  int same = r && !strcmp(r, x);
  free(r);
  return same;
}

static void fuzz_corefile(const char *x) {
  int clean_a = clean(x, "fellowship"), clean_b = clean(x, "rohan");
  char *ax = add(x, &A), *r, *r2, *bx, *abx;
  (void)clusterdns_corefile_has(x, &A);
  if (!ax) return;
  /* Idempotent. */
  r = add(ax, &A);
  CHECK(r && !strcmp(r, ax));
  free(r);
  if (clean_a) {
    r = del(ax, "fellowship");
    CHECK(r && !strcmp(r, x));
    free(r);
    /* Replaced in place, still exactly reversible. */
    r = add(ax, &A2);
    CHECK(r && !clusterdns_corefile_has(r, &A));
    r2 = del(r, "fellowship");
    CHECK(r2 && !strcmp(r2, x));
    free(r2);
    free(r);
  }
  if (clean_a && clean_b && (bx = add(x, &B))) {
    abx = add(ax, &B);
    CHECK(abx && clusterdns_corefile_has(abx, &A));
    r = del(abx, "rohan");
    CHECK(r && !strcmp(r, ax));
    r2 = del(r, "fellowship");
    CHECK(r2 && !strcmp(r2, x));
    free(r2);
    free(r);
    r = del(abx, "fellowship");
    CHECK(r && clusterdns_corefile_has(r, &B));
    r2 = del(r, "rohan");
    CHECK(r2 && !strcmp(r2, x));
    free(r2);
    free(r);
    free(abx);
    free(bx);
  }
  free(ax);
}

static const char *value(json_object *o, const char *key, int *present) {
  json_object *v = NULL;
  *present = json_object_object_get_ex(o, key, &v) && v;
  return *present ? json_object_get_string(v) : NULL;
}

static json_object *copy_data(json_object *d) {
  json_object *c = json_object_new_object();
  json_object_object_foreach (d, k, v) json_object_object_add(c, k, json_object_get(v));
  return c;
}

static void apply(json_object *d, json_object *patch) {
  json_object_object_foreach (patch, k, v) {
    if (v) json_object_object_add(d, k, json_object_get(v));
    else json_object_object_del(d, k);
  }
}

/* The stubDomains value add produced by appending our zone to orig (absent:
 * a new key), so that removal must give back orig's compact form. */
static int stubs_appended(const char *orig, int present, const char *zone) {
  json_object *o = NULL;
  const char *key = NULL;
  int appended;
  if (!present) return 1;
  if (clusterdns_stubs_parse(orig, strlen(orig), &o, NULL)) return 0;
  appended = clusterdns_stubs_find(o, zone, &key, NULL) == 0 && key == NULL;
  json_object_put(o);
  return appended;
}

static void fuzz_kubedns(json_object *d, const clusterdns_entry *e) {
  json_object *out = (json_object *)d, *again = NULL, *merged, *rout = (json_object *)d;
  kf_error err;
  int fp, sp, nfp, nsp, rfp, rsp;
  char zone[DNS_MAX_ZONE + 1];
  const char *created[3] = {NULL, NULL, NULL};
  size_t nc = 0, nns = 0;
  kf_error_clear(&err);
  int rc = clusterdns_kubedns_add(d, e, &out, &err);
  (void)clusterdns_kubedns_has(d, e);
  if (rc) {
    check_failure(rc, out, &err);
    return;
  }
  CHECK(clusterdns_check_entry(e, 0, 0, zone, &nns, NULL) == 0);
  const char *fv = value(d, DNS_KUBEDNS_FEDERATIONS, &fp), *sv = value(d, DNS_KUBEDNS_STUBDOMAINS, &sp);
  const char *nfv = value(out, DNS_KUBEDNS_FEDERATIONS, &nfp), *nsv = value(out, DNS_KUBEDNS_STUBDOMAINS, &nsp);
  CHECK(nfp && nsp == (nns > 0));
  merged = copy_data(d);
  apply(merged, out);
  CHECK(clusterdns_kubedns_has(merged, e));
  /* Idempotent: the same values again. */
  CHECK(clusterdns_kubedns_add(merged, e, &again, &err) == 0);
  json_object_object_foreach (again, k, v) {
    int p;
    const char *cur = value(merged, k, &p);
    CHECK(p && !strcmp(cur, json_object_get_string(v)));
  }
  json_object_put(again);

  if (!fp) created[nc++] = DNS_KUBEDNS_FEDERATIONS;
  if (!sp) created[nc++] = DNS_KUBEDNS_STUBDOMAINS;
  CHECK(clusterdns_kubedns_remove(merged, e, created, &rout, &err) == 0);
  apply(merged, rout);
  json_object_put(rout);
  CHECK(!clusterdns_kubedns_has(merged, e));
  const char *rfv = value(merged, DNS_KUBEDNS_FEDERATIONS, &rfp), *rsv = value(merged, DNS_KUBEDNS_STUBDOMAINS, &rsp);

  /* federations: when ours was appended, the original comes back exactly. */
  char *ours = kf_asprintf("%s=%s", e->federation, zone);
  char *appended = kf_asprintf("%s,%s", fv ? fv : "", ours);
  int blank = 1;
  for (const char *p = fv ? fv : ""; *p && blank; p++) blank = clusterdns_space(*p);
  char *blank_appended = kf_asprintf("%s%s", fv ? fv : "", ours);
  if (!strcmp(nfv, blank ? blank_appended : appended)) {
    CHECK(rfp == fp);
    CHECK(!fp || !strcmp(rfv, fv));
  }
  free(blank_appended);
  free(appended);
  free(ours);

  /* stubDomains: when ours was appended, the original's compact form. */
  if (nns > 0 && (!sp || strcmp(nsv, sv)) && stubs_appended(sv, sp, zone)) {
    CHECK(rsp == sp);
    if (sp) {
      json_object *o = NULL;
      CHECK(clusterdns_stubs_parse(sv, strlen(sv), &o, NULL) == 0);
      const char *compact = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
      CHECK(json_object_object_length(o) == 0 ? !strcmp(rsv, "{}") : !strcmp(rsv, compact));
      json_object_put(o);
    }
  }
  json_object_put(merged);
  json_object_put(out);
}

/* The kube-dns plan: a join then an unjoin on data holding nothing of ours gives data back
 * exactly, whatever the annotations held before (hostile text included, for the no-crash part). */
static const clusterdns_marks MARKS = {"kubefed.dev/created-keys-x", "kubefed.dev/original-x"};

static json_object *plan_cm(json_object *d, const char *hostile) {
  json_object *cm = json_object_new_object(), *meta = json_object_new_object(), *ann = json_object_new_object();
  if (hostile) {
    json_object_object_add(ann, MARKS.created, json_object_new_string(hostile));
    json_object_object_add(ann, MARKS.original, json_object_new_string(hostile));
  }
  json_object_object_add(meta, "annotations", ann);
  json_object_object_add(cm, "metadata", meta);
  json_object_object_add(cm, "data", copy_data(d));
  return cm;
}

static void plan_apply(json_object *cm, json_object *patch) {
  apply(json_object_object_get(json_object_object_get(cm, "metadata"), "annotations"),
        json_object_object_get(json_object_object_get(patch, "metadata"), "annotations"));
  apply(json_object_object_get(cm, "data"), json_object_object_get(patch, "data"));
}

static void fuzz_plan(json_object *d, const clusterdns_entry *e, const char *hostile) {
  json_object *cm = plan_cm(d, hostile), *patch = NULL, *none = NULL;
  kf_error err;
  kf_error_clear(&err);
  (void)clusterdns_kubedns_plan(cm, e, 1, &MARKS, &patch, &err);
  json_object_put(patch);
  patch = NULL;
  int rc = clusterdns_kubedns_plan(cm, e, 0, &MARKS, &patch, &err);
  int ours_before = clusterdns_kubedns_remove(d, e, NULL, &none, NULL) != 0 || json_object_object_length(none) > 0;
  json_object_put(none);
  if (rc != 0 || !patch || hostile || ours_before) {
    CHECK(rc == 0 || patch == NULL);
    json_object_put(patch);
    json_object_put(cm);
    return;
  }
  plan_apply(cm, patch);
  json_object_put(patch);
  patch = NULL;
  CHECK(clusterdns_kubedns_has(json_object_object_get(cm, "data"), e));
  CHECK(clusterdns_kubedns_plan(cm, e, 0, &MARKS, &patch, &err) == 0 && patch == NULL);
  CHECK(clusterdns_kubedns_plan(cm, e, 1, &MARKS, &patch, &err) == 0 && patch != NULL);
  plan_apply(cm, patch);
  json_object_put(patch);
  CHECK(json_object_equal(json_object_object_get(cm, "data"), d));
  CHECK(json_object_object_length(json_object_object_get(json_object_object_get(cm, "metadata"), "annotations")) == 0);
  json_object_put(cm);
}

static json_object *kubedns_data(const char *federations, const char *stubs) {
  json_object *d = json_object_new_object();
  json_object_object_add(d, "upstreamNameservers", json_object_new_string("[\"8.8.8.8\"]"));
  if (federations) json_object_object_add(d, DNS_KUBEDNS_FEDERATIONS, json_object_new_string(federations));
  if (stubs) json_object_object_add(d, DNS_KUBEDNS_STUBDOMAINS, json_object_new_string(stubs));
  return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* The editors take C strings: the input ends at its first NUL. */
  char *x = kf_strndup((const char *)data, size);
  char *nl = strchr(x, '\n');
  const clusterdns_entry plain = {.federation = "fellowship", .zone = "example.com"};
  json_object *d;

  fuzz_corefile(x);

  const struct { const char *feds, *stubs; } shapes[] = {{x, NULL}, {NULL, x}, {x, x}};
  for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
    d = kubedns_data(shapes[i].feds, shapes[i].stubs);
    fuzz_kubedns(d, &A);
    fuzz_kubedns(d, &plain);
    fuzz_plan(d, &A, NULL);
    fuzz_plan(d, &plain, x);
    json_object_put(d);
  }
  /* First line as federations, the rest as stubDomains. */
  if (nl) {
    *nl = '\0';
    d = kubedns_data(x, nl + 1);
    fuzz_kubedns(d, &A);
    fuzz_kubedns(d, &B);
    json_object_put(d);
  }
  free(x);
  return 0;
}
