/* wq: client-go's rate-limited work queue on a libuv loop.
 *
 * Each distinct key has one wq__item, found through a chained hash table and
 * kept while the key is queued, processing, waiting (delayed) or has failures
 * recorded; otherwise it is freed. The item carries client-go's sets as flags:
 *
 *   dirty       the key needs processing (client-go's dirty set). A dirty key
 *               that is not processing sits in the FIFO exactly once.
 *   processing  handed out by wq_get, not yet wq_done. Adds meanwhile only
 *               mark it dirty; wq_done then puts it back in the FIFO.
 *   heap_idx    position in the min-heap of delayed keys (client-go's
 *               waitingForQueue): one entry per key, the earliest deadline wins.
 *
 * One uv_timer_t is armed for the heap's earliest deadline. The ready callback
 * always runs from a uv_idle_t, never inside wq_add & co., so a consumer may
 * call any wq_ function from it without re-entering itself. */
#include <kf/wq.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <kf/error.h>

#define WQ__DEFAULT_BASE_MS 5
#define WQ__DEFAULT_MAX_MS (1000 * 1000)
#define WQ__DEFAULT_QPS 10.0
#define WQ__DEFAULT_BURST 100
#define WQ__NOT_WAITING SIZE_MAX
#define WQ__MIN_BUCKETS 64
/* A bucket delay beyond ~31 years is as good as never; it also keeps the
 * double -> uint64_t conversion defined. */
#define WQ__MAX_DELAY_MS 1e12

typedef struct wq__item {
  struct wq__item *hnext; /* hash chain */
  struct wq__item *qnext; /* FIFO link while queued */
  uint64_t hash;
  uint64_t ready_at; /* loop time (ms) to queue at, while waiting */
  uint64_t seq;      /* orders equal deadlines first-come first-served */
  size_t heap_idx;   /* index in q->heap, or WQ__NOT_WAITING */
  unsigned failures; /* rate-limited adds since the last wq_forget */
  bool dirty;
  bool processing;
  char key[];
} wq__item;

struct wq {
  uv_loop_t *loop;
  uv_timer_t timer; /* armed for heap[0]->ready_at */
  uv_idle_t idle;   /* pending ready notification */
  wq_options opts;

  wq__item **buckets; /* power-of-two sized */
  size_t nbuckets, nitems;
  uint64_t seed;

  wq__item *head, *tail; /* FIFO of keys ready to hand out */
  size_t len;
  size_t nprocessing;

  wq__item **heap; /* min-heap on (ready_at, seq) */
  size_t nheap, heap_cap;
  uint64_t seq;

  /* Token bucket, as golang.org/x/time/rate: tokens may go negative, which
   * is how a reservation far in the future is represented. */
  bool bucket_on;
  double tokens;
  uint64_t bucket_at; /* loop time tokens was computed at */

  bool shutdown, closing;
  int pending_closes;
  wq_close_cb close_cb;
};

/* ---- hash table ------------------------------------------------------------ */

/* FNV-1a with a per-queue random offset, then the splitmix64 finalizer so the
 * low bits (the bucket index) depend on every byte. Keys are object names
 * chosen by cluster users; the seed keeps them from aiming at one chain. */
static uint64_t wq__hash(const wq *q, const char *key) {
  uint64_t h = 0xcbf29ce484222325ULL ^ q->seed;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
    h ^= *p;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

static wq__item *wq__find(const wq *q, const char *key) {
  uint64_t h = wq__hash(q, key);
  for (wq__item *it = q->buckets[h & (q->nbuckets - 1)]; it; it = it->hnext)
    if (it->hash == h && strcmp(it->key, key) == 0) return it;
  return NULL;
}

static void wq__grow(wq *q) {
  size_t n = q->nbuckets * 2;
  wq__item **b = kf_calloc(n, sizeof(*b));
  for (size_t i = 0; i < q->nbuckets; i++) {
    wq__item *it = q->buckets[i], *next;
    for (; it; it = next) {
      next = it->hnext;
      it->hnext = b[it->hash & (n - 1)];
      b[it->hash & (n - 1)] = it;
    }
  }
  free(q->buckets);
  q->buckets = b;
  q->nbuckets = n;
}

/* Finds or creates the item for key. */
static wq__item *wq__intern(wq *q, const char *key) {
  wq__item *it = wq__find(q, key);
  size_t klen;
  if (it) return it;
  if (q->nitems >= q->nbuckets) wq__grow(q); /* load factor <= 1 */
  klen = strlen(key);
  it = kf_calloc(1, sizeof(*it) + klen + 1);
  memcpy(it->key, key, klen + 1);
  it->hash = wq__hash(q, key);
  it->heap_idx = WQ__NOT_WAITING;
  it->hnext = q->buckets[it->hash & (q->nbuckets - 1)];
  q->buckets[it->hash & (q->nbuckets - 1)] = it;
  q->nitems++;
  return it;
}

/* Frees the item once no state refers to it. */
static void wq__release(wq *q, wq__item *it) {
  wq__item **pp;
  if (it->dirty || it->processing || it->heap_idx != WQ__NOT_WAITING || it->failures) return;
  for (pp = &q->buckets[it->hash & (q->nbuckets - 1)]; *pp != it; pp = &(*pp)->hnext) {}
  *pp = it->hnext;
  q->nitems--;
  free(it);
}

/* ---- ready notification ------------------------------------------------------ */

static void wq__on_idle(uv_idle_t *h) {
  wq *q = h->data;
  uv_idle_stop(h);
  /* Last thing we do: the callback may wq_close the queue. */
  if (!q->shutdown && !q->closing && q->len > 0) q->opts.ready(q, q->opts.data);
}

static void wq__notify(wq *q) {
  if (q->shutdown || q->closing || uv_is_active((uv_handle_t *)&q->idle)) return;
  uv_idle_start(&q->idle, wq__on_idle);
}

/* client-go Add: dedup by dirty; a processing key waits for wq_done. */
static void wq__enqueue(wq *q, wq__item *it) {
  if (it->dirty) return;
  it->dirty = true;
  if (it->processing) return;
  it->qnext = NULL;
  if (q->tail) q->tail->qnext = it;
  else q->head = it;
  q->tail = it;
  q->len++;
  wq__notify(q);
}

/* ---- delayed keys -------------------------------------------------------------- */

static bool wq__before(const wq__item *a, const wq__item *b) {
  return a->ready_at < b->ready_at || (a->ready_at == b->ready_at && a->seq < b->seq);
}

static void wq__heap_set(wq *q, size_t i, wq__item *it) {
  q->heap[i] = it;
  it->heap_idx = i;
}

static void wq__sift_up(wq *q, size_t i) {
  wq__item *it = q->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!wq__before(it, q->heap[parent])) break;
    wq__heap_set(q, i, q->heap[parent]);
    i = parent;
  }
  wq__heap_set(q, i, it);
}

static void wq__sift_down(wq *q, size_t i) {
  wq__item *it = q->heap[i];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = l;
    if (l >= q->nheap) break;
    if (r < q->nheap && wq__before(q->heap[r], q->heap[l])) m = r;
    if (!wq__before(q->heap[m], it)) break;
    wq__heap_set(q, i, q->heap[m]);
    i = m;
  }
  wq__heap_set(q, i, it);
}

static wq__item *wq__heap_pop(wq *q) {
  wq__item *top = q->heap[0];
  top->heap_idx = WQ__NOT_WAITING;
  if (--q->nheap > 0) {
    wq__heap_set(q, 0, q->heap[q->nheap]);
    wq__sift_down(q, 0);
  }
  return top;
}

static void wq__on_timer(uv_timer_t *h);

/* Arms the one timer for the earliest deadline (or stops it). */
static void wq__arm(wq *q) {
  uint64_t now = uv_now(q->loop), at;
  if (q->nheap == 0) {
    uv_timer_stop(&q->timer);
    return;
  }
  at = q->heap[0]->ready_at;
  uv_timer_start(&q->timer, wq__on_timer, at > now ? at - now : 0, 0);
}

static void wq__on_timer(uv_timer_t *h) {
  wq *q = h->data;
  uint64_t now = uv_now(q->loop);
  while (q->nheap > 0 && q->heap[0]->ready_at <= now) {
    wq__item *it = wq__heap_pop(q);
    wq__enqueue(q, it);
  }
  wq__arm(q);
}

static void wq__add_after_item(wq *q, wq__item *it, uint64_t delay_ms) {
  uint64_t now, at;
  if (delay_ms == 0) {
    wq__enqueue(q, it);
    return;
  }
  now = uv_now(q->loop);
  at = delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms;
  if (it->heap_idx != WQ__NOT_WAITING) {
    /* Already waiting: only an earlier deadline changes anything. */
    if (at >= it->ready_at) return;
    it->ready_at = at;
    wq__sift_up(q, it->heap_idx);
  } else {
    if (q->nheap == q->heap_cap) {
      q->heap_cap = q->heap_cap ? q->heap_cap * 2 : 16;
      q->heap = kf_realloc(q->heap, q->heap_cap * sizeof(*q->heap));
    }
    it->ready_at = at;
    it->seq = q->seq++;
    wq__heap_set(q, q->nheap++, it);
    wq__sift_up(q, it->heap_idx);
  }
  if (it->heap_idx == 0) wq__arm(q);
}

/* ---- rate limiting ---------------------------------------------------------------- */

/* base * 2^exp, capped at max without overflowing. */
static uint64_t wq__backoff(const wq *q, unsigned exp) {
  uint64_t base = q->opts.base_delay_ms, max = q->opts.max_delay_ms;
  if (exp >= 64 || base > (max >> exp)) return max;
  return base << exp;
}

/* Takes one token and returns how long until it exists (rate.Limiter's
 * Reserve().Delay()): 0 while the burst lasts, then 1/qps apart. */
static uint64_t wq__reserve(wq *q) {
  uint64_t now = uv_now(q->loop);
  double burst = (double)q->opts.burst, wait;
  if (!q->bucket_on) return 0;
  if (now > q->bucket_at) {
    q->tokens += (double)(now - q->bucket_at) * q->opts.qps / 1000.0;
    if (q->tokens > burst) q->tokens = burst;
    q->bucket_at = now;
  }
  q->tokens -= 1.0;
  if (q->tokens >= 0) return 0;
  wait = ceil(-q->tokens * 1000.0 / q->opts.qps);
  return wait > WQ__MAX_DELAY_MS ? (uint64_t)WQ__MAX_DELAY_MS : (uint64_t)wait;
}

/* ---- public API ---------------------------------------------------------------------- */

wq *wq_new(uv_loop_t *loop, const wq_options *opts) {
  wq *q;
  if (!loop || !opts || !opts->ready || isnan(opts->qps)) return NULL;
  q = kf_calloc(1, sizeof(*q));
  q->loop = loop;
  q->opts = *opts;
  if (!q->opts.base_delay_ms) q->opts.base_delay_ms = WQ__DEFAULT_BASE_MS;
  if (!q->opts.max_delay_ms) q->opts.max_delay_ms = WQ__DEFAULT_MAX_MS;
  /* 0 is "unset" and takes the default; a negative qps turns the bucket off. */
  if (q->opts.qps == 0) q->opts.qps = WQ__DEFAULT_QPS;
  if (!q->opts.burst) q->opts.burst = WQ__DEFAULT_BURST;
  q->bucket_on = q->opts.qps > 0 && !isinf(q->opts.qps);
  q->tokens = (double)q->opts.burst; /* starts full, like rate.NewLimiter */
  q->bucket_at = uv_now(loop);

  q->nbuckets = WQ__MIN_BUCKETS;
  q->buckets = kf_calloc(q->nbuckets, sizeof(*q->buckets));
  q->seed = uv_hrtime() ^ ((uint64_t)(uintptr_t)q * 0x9e3779b97f4a7c15ULL);

  uv_timer_init(loop, &q->timer);
  uv_idle_init(loop, &q->idle);
  q->timer.data = q;
  q->idle.data = q;
  return q;
}

void wq_add(wq *q, const char *key) {
  if (!q || !key || q->shutdown) return;
  wq__enqueue(q, wq__intern(q, key));
}

void wq_add_after(wq *q, const char *key, uint64_t delay_ms) {
  if (!q || !key || q->shutdown) return;
  /* The loop's cached time may be stale by however long the current callback
   * has run; a delay counted from it could expire early. */
  if (delay_ms) uv_update_time(q->loop);
  wq__add_after_item(q, wq__intern(q, key), delay_ms);
}

void wq_add_rate_limited(wq *q, const char *key) {
  wq__item *it;
  uint64_t backoff, bucket;
  if (!q || !key || q->shutdown) return;
  uv_update_time(q->loop);
  it = wq__intern(q, key);
  backoff = wq__backoff(q, it->failures);
  if (it->failures < UINT_MAX) it->failures++;
  /* Like client-go's MaxOfRateLimiter, both limiters are consulted (so the
   * bucket token is taken even when the backoff dominates). */
  bucket = wq__reserve(q);
  wq__add_after_item(q, it, backoff > bucket ? backoff : bucket);
}

void wq_forget(wq *q, const char *key) {
  wq__item *it;
  if (!q || !key || !(it = wq__find(q, key))) return;
  it->failures = 0;
  wq__release(q, it);
}

unsigned wq_num_requeues(wq *q, const char *key) {
  wq__item *it;
  if (!q || !key || !(it = wq__find(q, key))) return 0;
  return it->failures;
}

int wq_get(wq *q, const char **key) {
  wq__item *it;
  if (!q || !key) return -EINVAL;
  *key = NULL;
  if (q->shutdown) return -ESHUTDOWN;
  if (!(it = q->head)) return -EAGAIN;
  q->head = it->qnext;
  if (!q->head) q->tail = NULL;
  it->qnext = NULL;
  q->len--;
  it->dirty = false;
  it->processing = true;
  q->nprocessing++;
  *key = it->key;
  return 0;
}

void wq_done(wq *q, const char *key) {
  wq__item *it;
  /* key may be the item's own string: not used once `it` is found. */
  if (!q || !key || !(it = wq__find(q, key)) || !it->processing) return;
  it->processing = false;
  q->nprocessing--;
  if (it->dirty && !q->shutdown) {
    it->dirty = false; /* wq__enqueue sets it again and links the FIFO */
    wq__enqueue(q, it);
  } else {
    it->dirty = false;
    wq__release(q, it);
  }
}

size_t wq_len(const wq *q) { return q ? q->len : 0; }
size_t wq_processing(const wq *q) { return q ? q->nprocessing : 0; }
size_t wq_waiting(const wq *q) { return q ? q->nheap : 0; }

void wq_shutdown(wq *q) {
  if (!q || q->shutdown) return;
  q->shutdown = true;
  /* Drop what can no longer be handed out, and stop the handles, so the
   * loop is free to exit. Processing keys stay valid until wq_done. */
  while (q->head) {
    wq__item *it = q->head;
    q->head = it->qnext;
    it->qnext = NULL;
    it->dirty = false;
    wq__release(q, it);
  }
  q->tail = NULL;
  q->len = 0;
  while (q->nheap > 0) wq__release(q, wq__heap_pop(q));
  uv_timer_stop(&q->timer);
  uv_idle_stop(&q->idle);
}

static void wq__on_close(uv_handle_t *h) {
  wq *q = h->data;
  wq_close_cb cb;
  void *data;
  if (--q->pending_closes > 0) return;
  for (size_t i = 0; i < q->nbuckets; i++) {
    wq__item *it = q->buckets[i], *next;
    for (; it; it = next) {
      next = it->hnext;
      free(it);
    }
  }
  free(q->buckets);
  free(q->heap);
  cb = q->close_cb;
  data = q->opts.data;
  /* q is passed for identification only; its memory goes right after. */
  if (cb) cb(q, data);
  free(q);
}

void wq_close(wq *q, wq_close_cb cb) {
  if (!q || q->closing) return;
  wq_shutdown(q);
  q->closing = true;
  q->close_cb = cb;
  q->pending_closes = 2;
  uv_close((uv_handle_t *)&q->timer, wq__on_close);
  uv_close((uv_handle_t *)&q->idle, wq__on_close);
}
