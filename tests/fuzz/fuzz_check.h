/* What the fuzz targets assert: a broken promise is named, then the process crashes so libFuzzer
 * keeps the input. */
#ifndef KF_FUZZ_CHECK_H
#define KF_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include <kf/error.h>

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* A refusal must be an error code with the same code and a message in err. */
static inline void check_error(int rc, const kf_error *err) { CHECK(rc < 0 && err->code == rc && err->msg[0] != '\0'); }

#endif
