/* servicedns internals shared by its files (not for callers). */
#ifndef KF_SERVICEDNS_INTERNAL_H
#define KF_SERVICEDNS_INTERNAL_H

#include "servicedns.h"

#include <stddef.h>

#include <kf/buf.h>

/* ASCII only: the C library's would depend on the locale. */
int servicedns__space(char c);
char servicedns__lower(char c);
/* DNS-1123 label (lower case, digits, '-'; 1..63). */
int servicedns__valid_label(const char *s, size_t n);
/* Dot-separated DNS-1123 labels, at most 253 bytes, no trailing dot. */
int servicedns__valid_name(const char *s);

#endif
