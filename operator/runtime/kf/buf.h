/* buf: a growable NUL-terminated byte buffer for text built from pieces (a Corefile spliced
 * from its input, an etcd key, a config line). Lengths are explicit, so any bytes may go in.
 *
 *   kf_buf b = {0};              p is NULL until the first add
 *   kf_buf_str(&b, "x");
 *   char *text = kf_buf_take(&b); the caller frees text; b is empty again */
#ifndef KF_BUF_H
#define KF_BUF_H

#include <stddef.h>

typedef struct kf_buf {
  char *p;
  size_t len, cap;
} kf_buf;

void kf_buf_add(kf_buf *b, const char *s, size_t n);
void kf_buf_addc(kf_buf *b, char c);
void kf_buf_str(kf_buf *b, const char *s);
/* The text (never NULL, "" when nothing was added); the buffer is left empty. */
char *kf_buf_take(kf_buf *b);

#endif
