#include <kf/b64.h>

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include <kf/error.h>

/* Strict: padded standard alphabet, whitespace ignored, anything else refused. */
int kf_b64_decode(const char *in, size_t in_len, char **out, size_t *out_len) {
  char *clean = kf_calloc(in_len + 1, 1);
  size_t n = 0, pad = 0, cap;
  char *buf;
  int r;

  *out = NULL;
  *out_len = 0;
  for (size_t i = 0; i < in_len; i++)
    if (!(in[i] == ' ' || in[i] == '\t' || in[i] == '\n' || in[i] == '\r')) clean[n++] = in[i];
  if (n == 0 || n % 4 != 0) goto bad;
  while (pad < 2 && clean[n - 1 - pad] == '=') pad++;
  for (size_t i = 0; i < n - pad; i++) {
    char c = clean[i];
    int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!ok) goto bad; /* includes '=' anywhere but the end, and a third '=' */
  }
  /* EVP_DecodeBlock takes an int and counts padding as output bytes. */
  cap = n / 4 * 3 + 1;
  buf = kf_calloc(cap, 1);
  r = EVP_DecodeBlock((unsigned char *)buf, (const unsigned char *)clean, (int)n);
  kf_free_secret(clean, in_len + 1);
  if (r < 0 || (size_t)r < pad) {
    kf_free_secret(buf, cap);
    return -EINVAL;
  }
  *out_len = (size_t)r - pad;
  /* Non-canonical input can leave bits in the padding bytes. */
  memset(buf + *out_len, 0, cap - *out_len);
  *out = buf;
  return 0;
bad:
  kf_free_secret(clean, in_len + 1);
  return -EINVAL;
}

char *kf_b64_encode(const char *in, size_t len) {
  char *out = kf_calloc(4 * ((len + 2) / 3) + 1, 1);
  EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)len);
  return out;
}
