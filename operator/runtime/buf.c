#include <kf/buf.h>

#include <kf/error.h>

#include <string.h>

void kf_buf_add(kf_buf *b, const char *s, size_t n) {
  if (!b->p || b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    b->p = kf_realloc(b->p, cap);
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void kf_buf_addc(kf_buf *b, char c) { kf_buf_add(b, &c, 1); }

void kf_buf_str(kf_buf *b, const char *s) { kf_buf_add(b, s, strlen(s)); }

char *kf_buf_take(kf_buf *b) {
  kf_buf_add(b, "", 0);
  char *p = b->p;
  *b = (kf_buf){0};
  return p;
}
