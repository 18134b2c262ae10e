/* error (kf_error): how every module reports failure.
 *
 * Functions return 0 on success or a negative errno-style code; when they take
 * a kf_error they also leave a message a person can act on. The message never
 * contains a token, key or Secret value: callers format only names and paths. */
#ifndef KF_ERROR_H
#define KF_ERROR_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kf_error {
  int code;        /* negative errno-style code, 0 when unset */
  int http_status; /* HTTP status for API errors, 0 otherwise */
  char reason[64]; /* metav1.Status reason (NotFound, Conflict, ...) or a short tag */
  char msg[512];
} kf_error;

/* Sets err->code and err->msg (if err is not NULL) and returns code, so callers can
 * `return kf_error_set(...)`. reason and http_status are left alone: callers that
 * reuse a kf_error call kf_error_clear first. */
int kf_error_set(kf_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void kf_error_clear(kf_error *err);

/* Duplicates s or aborts: out-of-memory is not a condition this process can report. */
char *kf_strdup(const char *s);
char *kf_strndup(const char *s, size_t n);
void *kf_calloc(size_t n, size_t size);
void *kf_realloc(void *p, size_t size);
char *kf_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A random 32-bit value from the kernel (getrandom): jitter and Event name suffixes must differ
 * between processes, which rand() without a seed does not. */
uint32_t kf_random(void);
/* strcmp that treats NULL as "". */
int kf_streq(const char *a, const char *b);
/* Overwrites then frees a buffer that held secret material. */
void kf_free_secret(void *p, size_t len);
/* Makes room in *buf (len bytes used, *cap allocated) for need more bytes and a NUL, doubling from
 * 4096. Not realloc: the old block is wiped before it is freed, for buffers that may hold secrets. */
void kf_grow_wiped(char **buf, size_t len, size_t *cap, size_t need);
/* Go's time.ParseDuration for non-negative values: one or more number-unit pairs (ns, us, µs,
 * ms, s, m, h) such as "1h30m" or "1.5s", in seconds. A bare number is refused: -EINVAL. */
int kf_parse_duration(const char *s, double *seconds);
/* The same in milliseconds, rounded, at least 1 for a nonzero value; Go's bare "0" is accepted. */
int kf_parse_duration_ms(const char *s, uint64_t *ms);

#endif
