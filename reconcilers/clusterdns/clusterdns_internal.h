/* clusterdns internals shared by its files (common.c, corefile.c, kubedns.c): the validators and the entry check. Not part of the library's interface. */
#ifndef KF_CLUSTERDNS_INTERNAL_H
#define KF_CLUSTERDNS_INTERNAL_H

#include <stddef.h>

#include <kf/buf.h> /* the Corefile is spliced from pieces of the input: any bytes */

#include "clusterdns.h"

#define DNS_MARK_BEGIN "# BEGIN kubefed.dev "
#define DNS_MARK_END "# END kubefed.dev "
#define DNS_MAX_ZONE 253
/* "[" + the longest IPv6 text + "]:65535" */
#define DNS_MAX_NAMESERVER 56

char clusterdns_lower(char c);
int clusterdns_space(char c);
int clusterdns_label_char(char c);
int clusterdns_valid_label(const char *s, size_t n);
int clusterdns_norm_zone(const char *in, char out[DNS_MAX_ZONE + 1]);
int clusterdns_same_zone(const char *s, size_t n, const char *zone);
int clusterdns_valid_port(const char *p, size_t n);
int clusterdns_valid_nameserver(const char *s);
int clusterdns_check_entry(const clusterdns_entry *e, int need_nameservers, int serving_port,
                           char zone[DNS_MAX_ZONE + 1], size_t *nns, kf_error *err);

#endif
