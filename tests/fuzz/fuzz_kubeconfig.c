/* libFuzzer target for the kubeconfig parser: arbitrary bytes as a Secret's
 * kubeconfig (base_dir NULL, so no file is ever opened).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I operator \
 *     tests/fuzz/fuzz_kubeconfig.c operator/kubeconfig.c operator/kf_error.c \
 *     $(pkg-config --cflags --libs yaml-0.1 openssl) -o /tmp/fuzz_kubeconfig
 *   cp -r tests/fuzz/corpus/kubeconfig /tmp/kcfg-corpus
 *   /tmp/fuzz_kubeconfig -max_total_time=30 /tmp/kcfg-corpus */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <kf/kcfg.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kcfg *cfg = NULL, *copy;
  kf_error err;
  int rc;

  kf_error_clear(&err);
  rc = kcfg_load_data((const char *)data, size, NULL, NULL, &cfg, &err);
  if (rc == 0) {
    /* A success must be complete: these are what the HTTP client relies on. */
    if (!cfg || !cfg->server || strncmp(cfg->server, "https://", 8) != 0 || !cfg->namespace_ || !cfg->context ||
        (cfg->client_cert_pem == NULL) != (cfg->client_key_pem == NULL) || cfg->token_file != NULL)
      __builtin_trap();
    copy = kcfg_dup(cfg);
    kcfg_free(copy);
    kcfg_free(cfg);
  } else if (cfg != NULL || err.code != rc || err.msg[0] == '\0') {
    __builtin_trap();
  }
  return 0;
}
