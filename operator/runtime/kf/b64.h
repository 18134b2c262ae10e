/* b64 (kf_b64): base64 as Kubernetes uses it (Secret data, kubeconfig -data fields). */
#ifndef KF_B64_H
#define KF_B64_H

#include <stddef.h>

/* Decodes into a NUL-terminated malloc'd buffer (*out, *out_len without the NUL).
 * 0, or -EINVAL for anything but padded standard base64 (whitespace is ignored). */
int kf_b64_decode(const char *in, size_t in_len, char **out, size_t *out_len);
/* Encodes len bytes; malloc'd, NUL-terminated. */
char *kf_b64_encode(const char *in, size_t len);

#endif
