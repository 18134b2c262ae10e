#include "cli_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_flags.h"
#include <kf/kcfg.h>

typedef struct ca_res {
  int done, rc;
  json_object *obj;
  kf_error err;
} ca_res;

static void ca_cb(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  ca_res *r = data;
  (void)c;
  r->done = 1;
  r->rc = rc;
  r->obj = obj ? json_object_get(obj) : NULL;
  if (err) r->err = *err;
  else kf_error_clear(&r->err);
}

static void ca_deadline(uv_timer_t *t) {
  cli_api *a = t->data;
  a->timed_out = 1;
}

int cli_api_open(cli_api *a, const char *path, const char *context, uint64_t timeout_ms, kf_error *err) {
  kcfg *cfg = NULL;
  memset(a, 0, sizeof(*a));
  int rc = kcfg_load_file(path, context, &cfg, err);
  if (rc != 0) return rc;
  uv_loop_init(&a->loop);
  uv_timer_init(&a->loop, &a->deadline_timer);
  a->deadline_timer.data = a;
  a->open = 1;
  a->eng = http_engine_new(&a->loop, err);
  if (a->eng) {
    http_engine_set_user_agent(a->eng, "kubefed/" KF_VERSION);
    a->c = kc_client_new(a->eng, cfg, err);
  }
  if (a->c) kc_client_set_field_manager(a->c, API_CLI);
  kcfg_free(cfg);
  if (!a->c) {
    cli_api_close(a);
    return err && err->code ? err->code : -EINVAL;
  }
  if (timeout_ms) {
    a->deadline = uv_now(&a->loop) + timeout_ms;
    uv_timer_start(&a->deadline_timer, ca_deadline, timeout_ms, 0);
  }
  return 0;
}

void cli_api_close(cli_api *a) {
  if (!a->open) return;
  if (a->c) kc_client_close(a->c);
  a->c = NULL;
  if (a->eng) http_engine_close(a->eng);
  a->eng = NULL;
  uv_timer_stop(&a->deadline_timer);
  uv_close((uv_handle_t *)&a->deadline_timer, NULL);
  uv_run(&a->loop, UV_RUN_DEFAULT);
  uv_loop_close(&a->loop);
  a->open = 0;
}

uint64_t cli_api_remaining(cli_api *a) {
  if (!a->deadline) return UINT64_MAX;
  uv_update_time(&a->loop);
  uint64_t now = uv_now(&a->loop);
  return now >= a->deadline ? 0 : a->deadline - now;
}

static int ca_timeout_error(kf_error *err) {
  kf_error_clear(err);
  snprintf(err->reason, sizeof(err->reason), "Timeout");
  return kf_error_set(err, KC_ERR_TIMEOUT, "timed out (--timeout)");
}

/* Runs the loop until r is answered; on the deadline, cancels it. */
static int ca_wait(cli_api *a, ca_res *r, int start_rc, json_object **out, kf_error *err) {
  if (out) *out = NULL;
  if (start_rc != 0 && !r->done) {
    kf_error_clear(err);
    return kf_error_set(err, start_rc, "the request could not be started (%s)", strerror(-start_rc));
  }
  while (!r->done && !a->timed_out) uv_run(&a->loop, UV_RUN_ONCE);
  if (!r->done) {
    /* The deadline: cancel what is in flight; the client cannot be used again. */
    kc_client_close(a->c);
    a->c = NULL;
    while (!r->done) uv_run(&a->loop, UV_RUN_ONCE);
    if (r->obj) json_object_put(r->obj);
    return ca_timeout_error(err);
  }
  if (err) *err = r->err;
  if (out) *out = r->obj;
  else if (r->obj) json_object_put(r->obj);
  return r->rc;
}

#define CA_CHECK(a, err)                                         \
  do {                                                           \
    if ((a)->timed_out || !(a)->c) return ca_timeout_error(err); \
  } while (0)

int cli_api_get(cli_api *a, const kc_resource *res, const char *ns, const char *name, json_object **out,
                kf_error *err) {
  ca_res r = {0};
  CA_CHECK(a, err);
  return ca_wait(a, &r, kc_get(a->c, res, ns, name, ca_cb, &r), out, err);
}

int cli_api_list(cli_api *a, const kc_resource *res, const char *ns, json_object **out, kf_error *err) {
  ca_res r = {0};
  CA_CHECK(a, err);
  return ca_wait(a, &r, kc_list_all(a->c, res, ns, NULL, ca_cb, &r), out, err);
}

int cli_api_create(cli_api *a, const kc_resource *res, const char *ns, json_object *obj, json_object **out,
                   kf_error *err) {
  ca_res r = {0};
  CA_CHECK(a, err);
  return ca_wait(a, &r, kc_create(a->c, res, ns, obj, ca_cb, &r), out, err);
}

int cli_api_apply(cli_api *a, const kc_resource *res, json_object *obj, json_object **out, kf_error *err) {
  ca_res r = {0};
  CA_CHECK(a, err);
  return ca_wait(a, &r, kc_apply(a->c, res, obj, NULL, ca_cb, &r), out, err);
}

int cli_api_delete(cli_api *a, const kc_resource *res, const char *ns, const char *name, kf_error *err) {
  ca_res r = {0};
  kc_delete_opts o = {.propagation_policy = "Background"};
  CA_CHECK(a, err);
  return ca_wait(a, &r, kc_delete(a->c, res, ns, name, &o, ca_cb, &r), NULL, err);
}

static void ca_wake(uv_timer_t *t) { *(int *)t->data = 1; }

int cli_api_sleep(cli_api *a, uint64_t ms) {
  uv_timer_t t;
  int fired = 0;
  if (a->timed_out) return KC_ERR_TIMEOUT;
  uv_timer_init(&a->loop, &t);
  t.data = &fired;
  uv_timer_start(&t, ca_wake, ms, 0);
  while (!fired && !a->timed_out) uv_run(&a->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&a->loop, UV_RUN_NOWAIT);
  return a->timed_out ? KC_ERR_TIMEOUT : 0;
}
