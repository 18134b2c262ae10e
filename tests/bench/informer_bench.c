/* informer_bench: what an informer holding N ConfigMaps costs, on a real
 * kube-apiserver. Subcommands (the driver, run-bench.sh, sequences them):
 *   create KUBECONFIG NS N        N ConfigMaps, 64 in flight; prints writes/s
 *   update KUBECONFIG NS N M      M updates spread over the N ConfigMaps
 *   informer KUBECONFIG NS N M    list+watch into an informer: sync time, RSS,
 *                                 then M updates and the time until all arrive
 *   tokens KUBECONFIG NS N        N ServiceAccounts and their token Secrets, 64 in flight, then
 *                                 the wait until the member's token controller has filled all N
 *                                 (what a join cannot avoid on its member); prints the seconds
 *   members KUBECONFIG NS N       N member-like clients, each with its own connection and three
 *                                 watches (as the cluster registry runs them): private memory and
 *                                 malloc's in-use bytes per member
 *   joins KUBECONFIG NS N S       watches FederatedClusters (start it before they are created):
 *                                 for each, creation (its ADDED event) -> Joined=True as watch
 *                                 events show them, until N have joined and are Ready or S
 *                                 seconds passed; prints the latency percentiles in milliseconds
 *                                 and when the last turned Ready (epoch seconds)
 * Output: one `key=value` line per figure on stdout. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kf/informer.h>
#include <kf/watch.h>
#include <kf/metrics.h>

static double clock_s(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }

typedef struct run {
  uv_loop_t *loop;
  http_engine *eng;
  kc_client *c;
  int started, done, failed;
} run;

static void op_done(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  run *r = data;
  (void)c;
  (void)obj;
  r->done++;
  if (rc != 0) {
    r->failed++;
    fprintf(stderr, "informer_bench: %s\n", err ? err->msg : "request failed");
  }
}

static void run_init(run *r, const char *kubeconfig) {
  kf_error err;
  kcfg *cfg;
  memset(r, 0, sizeof(*r));
  if (kcfg_load_file(kubeconfig, NULL, &cfg, &err) != 0) {
    fprintf(stderr, "informer_bench: %s\n", err.msg);
    exit(1);
  }
  r->loop = uv_default_loop();
  r->eng = http_engine_new(r->loop, &err);
  r->c = kc_client_new(r->eng, cfg, &err);
  if (r->c) kc_client_set_field_manager(r->c, "informer-bench");
  kcfg_free(cfg);
  if (!r->c) {
    fprintf(stderr, "informer_bench: %s\n", err.msg);
    exit(1);
  }
}

static json_object *configmap(const char *ns, int i, int gen) {
  char buf[512];
  snprintf(buf, sizeof(buf),
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"bench-%05d\","
           "\"namespace\":\"%s\",\"labels\":{\"app\":\"bench\",\"shard\":\"s%d\"}},"
           "\"data\":{\"generation\":\"%d\",\"region\":\"bench-region\",\"zone\":\"bench-zone-%d\","
           "\"payload\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}}",
           i, ns, i % 16, gen, i % 3);
  return json_tokener_parse(buf);
}

/* Issues count writes (creates, or applies of a new generation spread over n
 * objects) with at most 64 in flight. Generations are unique per run so every
 * apply is a real change. */
static void writes(run *r, const char *ns, int n, int count, int update) {
  int base = (int)((long long)(now_s() * 1000) % 1000000000);
  for (int i = 0; i < count; i++) {
    json_object *cm = configmap(ns, i % n, update ? base + i / n : 0);
    r->started++;
    if (update) kc_apply(r->c, &KC_CONFIGMAPS, cm, NULL, op_done, r);
    else kc_create(r->c, &KC_CONFIGMAPS, ns, cm, op_done, r);
    json_object_put(cm);
    while (r->started - r->done >= 64) uv_run(r->loop, UV_RUN_ONCE);
  }
  while (r->done < r->started) uv_run(r->loop, UV_RUN_ONCE);
}

typedef struct counter {
  long events;
} counter;

static void on_add(informer *inf, json_object *o, void *d) {
  (void)inf;
  (void)o;
  ((counter *)d)->events++;
}

static void on_update(informer *inf, json_object *a, json_object *b, void *d) {
  (void)inf;
  (void)a;
  (void)b;
  ((counter *)d)->events++;
}

/* ---- tokens: the member writes of a join plus the wait for its token controller ---- */

typedef struct tokens {
  long filled;
} tokens;

static void tokens_event(json_object *secret, tokens *t) {
  if (kc_obj_key_str(kc_obj_get(secret, "data"), "token")) t->filled++;
}
static void tokens_add(informer *inf, json_object *o, void *d) {
  (void)inf;
  tokens_event(o, d);
}
static void tokens_update(informer *inf, json_object *a, json_object *b, void *d) {
  (void)inf;
  /* Count each Secret once: when its token first appears. */
  if (!kc_obj_key_str(kc_obj_get(a, "data"), "token")) tokens_event(b, d);
}

/* The Secret after its ServiceAccount, as a join does: the token controller deletes a token Secret
 * whose ServiceAccount it cannot find. */
typedef struct token_pair {
  run *r;
  const char *ns;
  int i;
} token_pair;

static void token_sa_created(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  token_pair *p = data;
  char buf[512];
  op_done(c, rc, obj, err, p->r);
  if (rc == 0) {
    snprintf(buf, sizeof(buf),
             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"type\":\"kubernetes.io/service-account-token\","
             "\"metadata\":{\"name\":\"bench-%05d-token\",\"labels\":{\"app\":\"bench-token\"},"
             "\"annotations\":{\"kubernetes.io/service-account.name\":\"bench-%05d\"}}}",
             p->i, p->i);
    json_object *secret = json_tokener_parse(buf);
    p->r->started++;
    kc_create(c, &KC_SECRETS, p->ns, secret, op_done, p->r);
    json_object_put(secret);
  }
  free(p);
}

static int tokens_main(run *r, const char *ns, int n) {
  char buf[512];
  tokens t = {0};
  informer_opts o = {.res = &KC_SECRETS, .namespace_ = ns, .label_selector = "app=bench-token"};
  informer_handlers h = {tokens_add, tokens_update, NULL, &t};
  informer *inf = informer_new(r->c, &o, &h);
  informer_start(inf);
  while (!informer_has_synced(inf)) uv_run(r->loop, UV_RUN_ONCE);
  double t0 = now_s();
  for (int i = 0; i < n; i++) {
    snprintf(buf, sizeof(buf),
             "{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\",\"metadata\":{\"name\":\"bench-%05d\"}}", i);
    json_object *sa = json_tokener_parse(buf);
    token_pair *p = kf_calloc(1, sizeof(*p));
    *p = (token_pair){r, ns, i};
    r->started++;
    kc_create(r->c, &KC_SERVICEACCOUNTS, ns, sa, token_sa_created, p);
    json_object_put(sa);
    while (r->started - r->done >= 64) uv_run(r->loop, UV_RUN_ONCE);
  }
  while (r->done < r->started) uv_run(r->loop, UV_RUN_ONCE);
  double written = now_s() - t0;
  while (t.filled < n && !r->failed && now_s() - t0 < 600) uv_run(r->loop, UV_RUN_ONCE);
  double dt = now_s() - t0;
  printf("tokens_objects=%d\ntokens_write_seconds=%.3f\ntokens_seconds=%.3f\ntokens_filled=%ld\ntokens_failed=%d\n",
         2 * n, written, dt, t.filled, r->failed);
  return r->failed || t.filled < n ? 1 : 0;
}

/* ---- members: what one member costs, connection and watches included ---- */

static int members_main(run *r, const char *ns, int n) {
  const kc_resource *res[3] = {&KC_CLUSTERROLES, &KC_CLUSTERROLEBINDINGS, &KC_SECRETS};
  kc_client **c = kf_calloc((size_t)n, sizeof(*c));
  informer **inf = kf_calloc((size_t)n * 3, sizeof(*inf));
  kf_error err;
  /* One warm-up member, so shared one-time costs (TLS library state) are not counted per member. */
  size_t anon0 = 0, heap0 = 0;
  for (int i = 0; i <= n; i++) {
    if (i == 1) {
      anon0 = kf_rss_anon_bytes();
      struct mallinfo2 mi = mallinfo2();
      heap0 = mi.uordblks + mi.hblkhd;
    }
    int k = i == 0 ? 0 : i - 1;
    kc_client *m = kc_client_derive(r->c, kc_client_config(r->c), &err);
    if (!m || kc_client_isolate(m, &err) != 0) return 1;
    char sel[64];
    snprintf(sel, sizeof(sel), "bench-member=m%d", i);
    for (int w = 0; w < 3; w++) {
      informer_opts o = {.res = res[w],
                         .namespace_ = w == 2 ? ns : NULL,
                         .label_selector = sel,
                         .list_from_cache = 1,
                         .max_depth = WATCH_TYPED_DEPTH,
                         .page_size = 100};
      informer *x = informer_new(m, &o, NULL);
      informer_start(x);
      while (!informer_has_synced(x)) uv_run(r->loop, UV_RUN_ONCE);
      if (i > 0) inf[k * 3 + w] = x;
    }
    if (i > 0) c[k] = m;
  }
  uv_run(r->loop, UV_RUN_NOWAIT);
  struct mallinfo2 mi = mallinfo2();
  printf("members=%d\nanon_per_member_kib=%.1f\nheap_per_member_kib=%.1f\nheap_free_kib=%zu\n", n,
         (double)(kf_rss_anon_bytes() - anon0) / 1024 / n, (double)(mi.uordblks + mi.hblkhd - heap0) / 1024 / n,
         mi.fordblks / 1024);
  fflush(stdout);
  if (getenv("MEMBERS_HOLD")) pause();
  return 0;
}

/* ---- joins: creation -> Joined=True, at the resolution of the watch events' arrival ---- */

static const kc_resource FEDERATEDCLUSTERS = {"kubefed.dev", "v1alpha1", "federatedclusters", "FederatedCluster", 1};

typedef struct joins {
  json_object *seen;  /* uid -> arrival time of its ADDED event (s); uid, not name: a round may reuse the
                         names of a previous round's FederatedClusters still terminating */
  json_object *ready; /* uid -> null once seen Ready=True */
  double *lat;        /* ms, one per joined FederatedCluster */
  int n, want;
  double all_ready_at; /* epoch seconds when the last of want turned Ready; 0 until then */
} joins;

static int has_condition(json_object *fc, const char *type) {
  json_object *conds = kc_obj_get(fc, "status.conditions");
  for (size_t i = 0; conds && i < json_object_array_length(conds); i++) {
    json_object *c = json_object_array_get_idx(conds, i);
    if (kf_streq(kc_obj_str(c, "type"), type) && kf_streq(kc_obj_str(c, "status"), "True")) return 1;
  }
  return 0;
}

static void joins_event(joins *j, json_object *fc) {
  const char *uid = kc_obj_str(fc, "metadata.uid");
  json_object *t;
  if (!uid) return;
  if (!json_object_object_get_ex(j->seen, uid, &t)) {
    json_object_object_add(j->seen, uid, json_object_new_double(now_s()));
  } else if (json_object_is_type(t, json_type_double) && has_condition(fc, "Joined") && j->n < j->want) {
    j->lat[j->n++] = (now_s() - json_object_get_double(t)) * 1000;
    json_object_object_add(j->seen, uid, json_object_new_int(0)); /* counted */
  }
  if (!json_object_object_get_ex(j->ready, uid, NULL) && has_condition(fc, "Ready")) {
    json_object_object_add(j->ready, uid, NULL);
    if (json_object_object_length(j->ready) == j->want) j->all_ready_at = clock_s(CLOCK_REALTIME);
  }
}

static void joins_add(informer *inf, json_object *o, void *d) {
  (void)inf;
  joins_event(d, o);
}

static void joins_update(informer *inf, json_object *a, json_object *b, void *d) {
  (void)inf;
  (void)a;
  joins_event(d, b);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(const double *v, int n, double p) {
  int i = (int)(p * n + 0.999999) - 1;
  return n ? v[i < 0 ? 0 : i >= n ? n - 1 : i] : 0;
}

static int joins_main(run *r, const char *ns, int n, double limit_s) {
  joins j = {json_object_new_object(), json_object_new_object(), kf_calloc((size_t)n + 1, sizeof(double)), 0, n, 0};
  informer_opts o = {.res = &FEDERATEDCLUSTERS, .namespace_ = ns};
  informer_handlers h = {joins_add, joins_update, NULL, &j};
  informer *inf = informer_new(r->c, &o, &h);
  informer_start(inf);
  while (!informer_has_synced(inf)) uv_run(r->loop, UV_RUN_ONCE);
  printf("watching=1\n");
  fflush(stdout);
  double t0 = now_s();
  while ((j.n < n || !j.all_ready_at) && now_s() - t0 < limit_s) uv_run(r->loop, UV_RUN_ONCE);
  qsort(j.lat, (size_t)j.n, sizeof(double), cmp_double);
  printf("joined=%d\nready=%d\nall_ready_at=%.3f\n", j.n, json_object_object_length(j.ready), j.all_ready_at);
  printf("join_p50_ms=%.0f\njoin_p90_ms=%.0f\njoin_p99_ms=%.0f\njoin_max_ms=%.0f\n", pct(j.lat, j.n, 0.5),
         pct(j.lat, j.n, 0.9), pct(j.lat, j.n, 0.99), pct(j.lat, j.n, 1.0));
  informer_close(inf);
  kc_client_close(r->c);
  http_engine_close(r->eng);
  uv_run(r->loop, UV_RUN_DEFAULT);
  json_object_put(j.seen);
  json_object_put(j.ready);
  free(j.lat);
  return j.n == n && j.all_ready_at ? 0 : 1;
}

int main(int argc, char **argv) {
  run r;
  if (argc < 5) {
    fprintf(stderr,
            "usage: informer_bench create KUBECONFIG NS N | update|informer KUBECONFIG NS N M | tokens KUBECONFIG "
            "NS N | joins KUBECONFIG NS N SECONDS\n");
    return 2;
  }
  const char *cmd = argv[1], *ns = argv[3];
  int n = atoi(argv[4]);
  run_init(&r, argv[2]);
  if (strcmp(cmd, "create") == 0 || strcmp(cmd, "update") == 0) {
    int update = strcmp(cmd, "update") == 0, count = update && argc > 5 ? atoi(argv[5]) : n;
    double t0 = now_s();
    writes(&r, ns, n, count, update);
    double dt = now_s() - t0;
    printf("%s_objects=%d\n%s_seconds=%.3f\n%s_per_second=%.0f\n%s_failed=%d\n", cmd, count, cmd, dt, cmd, count / dt,
           cmd, r.failed);
    return r.failed ? 1 : 0;
  }
  if (strcmp(cmd, "tokens") == 0) return tokens_main(&r, ns, n);
  if (strcmp(cmd, "members") == 0) return members_main(&r, ns, n);
  if (strcmp(cmd, "joins") == 0 && argc > 5) return joins_main(&r, ns, n, atof(argv[5]));
  if (strcmp(cmd, "informer") != 0 || argc < 6) return 2;
  int m = atoi(argv[5]);
  size_t rss0 = kf_rss_bytes(), anon0 = kf_rss_anon_bytes();
  counter cnt = {0};
  const char *idx[] = {"shard", NULL};
  informer_opts o = {
      .res = &KC_CONFIGMAPS, .namespace_ = ns, .label_selector = "app=bench", .index_labels = idx, .page_size = 500};
  informer_handlers h = {on_add, on_update, NULL, &cnt};
  informer *inf = informer_new(r.c, &o, &h);
  double t0 = now_s();
  informer_start(inf);
  while (!informer_has_synced(inf)) uv_run(r.loop, UV_RUN_ONCE);
  double list_s = now_s() - t0;
  size_t rss1 = kf_rss_bytes(), anon1 = kf_rss_anon_bytes();
  printf("objects=%zu\nlist_seconds=%.3f\nlist_objects_per_second=%.0f\n", informer_len(inf), list_s,
         (double)informer_len(inf) / list_s);
  printf("rss_before_bytes=%zu\nrss_synced_bytes=%zu\nrss_per_object_bytes=%.0f\n", rss0, rss1,
         (double)(rss1 - rss0) / (double)informer_len(inf));
  printf("anon_before_bytes=%zu\nanon_synced_bytes=%zu\n", anon0, anon1);
  fflush(stdout);
  /* Updates from a second client on the same loop; the informer must see all of them. */
  run w;
  run_init(&w, argv[2]);
  long target = cnt.events + m;
  t0 = now_s();
  writes(&w, ns, n, m, 1);
  double written = now_s() - t0;
  while (cnt.events < target) uv_run(r.loop, UV_RUN_ONCE);
  double watch_s = now_s() - t0;
  printf("watch_updates=%d\nwatch_write_seconds=%.3f\nwatch_seconds=%.3f\nwatch_events_per_second=%.0f\n", m, written,
         watch_s, m / watch_s);
  printf("rss_after_watch_bytes=%zu\n", kf_rss_bytes());
  informer_close(inf);
  kc_client_close(w.c);
  kc_client_close(r.c);
  http_engine_close(r.eng);
  http_engine_close(w.eng);
  uv_run(r.loop, UV_RUN_DEFAULT);
  return 0;
}
