/* kcfg's helpers shared by its two loaders: kubeconfig files and data (kcfg.c) and the in-cluster
 * configuration (kcfg_incluster.c). Not part of the API. */
#ifndef KF_KCFG_INTERNAL_H
#define KF_KCFG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <kf/error.h>

/* A kubeconfig with dozens of clusters is tens of KiB; 4 MiB leaves ample room
 * while bounding what a hostile Secret can make us allocate. */
#define KCFG_MAX_BYTES ((size_t)4 << 20)

/* Names and paths come from the kubeconfig, which may come from a Secret:
 * replaces control characters so a message cannot forge log lines. */
void kcfg__sanitize(kf_error *err);
/* Trims blanks at both ends in place (token files end with a newline; client-go TrimSpaces);
 * returns the new length. */
size_t kcfg__trim(char *buf, size_t len);
/* The token goes into an Authorization header: false when empty or with a blank or control
 * character (a CR/LF would inject headers). */
bool kcfg__token_ok(const char *tok, size_t len);
bool kcfg__has_pem(const char *buf, size_t len);
/* dir/rel (malloc'd). */
char *kcfg__join(const char *dir, const char *rel);

#endif
