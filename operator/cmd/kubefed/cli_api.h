/* cli_api: blocking calls on the asynchronous kube client, for the kubefed CLI.
 *
 * One loop, one engine, one client; each call starts a request and runs the loop until
 * its callback has run. One deadline covers the whole command (--timeout): when it
 * passes, the request in flight is cancelled and every call returns KC_ERR_TIMEOUT. */
#ifndef KF_CLI_API_H
#define KF_CLI_API_H

#include <json-c/json.h>
#include <stdint.h>
#include <uv.h>

#include <kf/kc.h>
#include <kubefed/api.h>

typedef struct cli_api {
  uv_loop_t loop;
  http_engine *eng;
  kc_client *c;
  uv_timer_t deadline_timer;
  uint64_t deadline; /* uv_now() ms; 0: none */
  int timed_out;
  int open;
} cli_api;

/* Loads context from the kubeconfig at path (kcfg_load_file) and opens a client.
 * timeout_ms 0: no deadline. */
int cli_api_open(cli_api *a, const char *path, const char *context, uint64_t timeout_ms, kf_error *err);
void cli_api_close(cli_api *a);

/* Each returns 0 and *out (owned by the caller; out may be NULL) or a negative kc code. */
int cli_api_get(cli_api *a, const kc_resource *res, const char *ns, const char *name, json_object **out, kf_error *err);
int cli_api_list(cli_api *a, const kc_resource *res, const char *ns, json_object **out, kf_error *err);
int cli_api_create(cli_api *a, const kc_resource *res, const char *ns, json_object *obj, json_object **out,
                   kf_error *err);
/* Server-side apply with fieldManager kubefed-cli (API_CLI), force=true. */
int cli_api_apply(cli_api *a, const kc_resource *res, json_object *obj, json_object **out, kf_error *err);
int cli_api_delete(cli_api *a, const kc_resource *res, const char *ns, const char *name, kf_error *err);

/* Runs the loop for ms (less when the deadline comes first). Returns KC_ERR_TIMEOUT once
 * the deadline has passed, else 0. */
int cli_api_sleep(cli_api *a, uint64_t ms);
/* Milliseconds left before the deadline (UINT64_MAX: none). */
uint64_t cli_api_remaining(cli_api *a);

#endif
