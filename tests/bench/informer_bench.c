/* informer_bench: what an informer holding N ConfigMaps costs, on a real
 * kube-apiserver. Subcommands (the driver, run-bench.sh, sequences them):
 *   create KUBECONFIG NS N        N ConfigMaps, 64 in flight; prints writes/s
 *   update KUBECONFIG NS N M      M updates spread over the N ConfigMaps
 *   informer KUBECONFIG NS N M    list+watch into an informer: sync time, RSS,
 *                                 then M updates and the time until all arrive
 * Output: one `key=value` line per figure on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kf/informer.h>
#include <kf/metrics.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

int main(int argc, char **argv) {
  run r;
  if (argc < 5) {
    fprintf(stderr, "usage: informer_bench create KUBECONFIG NS N | update|informer KUBECONFIG NS N M\n");
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
