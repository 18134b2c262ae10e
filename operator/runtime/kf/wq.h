/* wq: a rate-limited work queue of string keys on a libuv loop, after
 * client-go's workqueue.
 *
 * - A key added while already queued is not queued twice.
 * - A key being processed (between wq_get and wq_done) is never handed out
 *   again until wq_done; if it was added meanwhile it is re-queued on wq_done.
 * - wq_add_rate_limited delays by max(per-key exponential backoff
 *   base_delay * 2^failures capped at max_delay, overall token bucket of
 *   qps/burst), like client-go's DefaultControllerRateLimiter (5 ms .. 1000 s,
 *   10 qps, burst 100). wq_forget resets a key's failures.
 * - wq_add_after queues a key after a delay (one uv_timer for all delayed keys).
 *
 * Consumers are asynchronous: the ready callback fires (from the loop) whenever
 * keys may be available; the consumer then calls wq_get until it returns -EAGAIN. */
#ifndef KF_WQ_H
#define KF_WQ_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct wq wq;
typedef void (*wq_ready_cb)(wq *q, void *data);
typedef void (*wq_close_cb)(wq *q, void *data);

typedef struct wq_options {
  uint64_t base_delay_ms; /* default 5 */
  uint64_t max_delay_ms;  /* default 1000 * 1000 */
  double qps;             /* overall bucket refill; 0 takes the default 10, < 0 disables */
  unsigned burst;         /* default 100 */
  wq_ready_cb ready;      /* required */
  void *data;             /* passed to ready and close callbacks */
} wq_options;

/* opts may have zero fields: they take the defaults. Returns NULL only on bad args. */
wq *wq_new(uv_loop_t *loop, const wq_options *opts);

void wq_add(wq *q, const char *key);
void wq_add_after(wq *q, const char *key, uint64_t delay_ms);
void wq_add_rate_limited(wq *q, const char *key);
/* Stops tracking the key's failures (call after a successful reconcile). */
void wq_forget(wq *q, const char *key);
/* Number of failures recorded for key. */
unsigned wq_num_requeues(wq *q, const char *key);

/* Takes the next ready key: 0 and *key (owned by the queue, valid until wq_done),
 * -EAGAIN when none is ready, -ESHUTDOWN after wq_shutdown. */
int wq_get(wq *q, const char **key);
/* Marks key processed; re-queues it if it was added while processing. */
void wq_done(wq *q, const char *key);

size_t wq_len(const wq *q);        /* keys ready now */
size_t wq_processing(const wq *q); /* keys between get and done */
size_t wq_waiting(const wq *q);    /* keys delayed */

/* No more keys are handed out; adds are ignored. */
void wq_shutdown(wq *q);
/* Shuts down, closes its handles, frees the queue's contents, calls close_cb
 * (may be NULL; q only identifies which queue closed, its contents are gone),
 * then frees the queue. The queue must not be used after this call. */
void wq_close(wq *q, wq_close_cb cb);

#endif
