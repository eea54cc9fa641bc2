/* batch — see batch.h. */
#include "batch.h"

#include "common/err.h"
#include "common/mem.h"

#include <stdlib.h>

int64_t trainer_pack(const trainer_seq *seqs, int n, ts_device dev, ts_tensor **ids, ts_tensor **mask, int64_t *P) {
    int64_t pw = 0, rw = 0;
    for (int i = 0; i < n; i++) {
        if (seqs[i].plen > pw) pw = seqs[i].plen;
        if (seqs[i].rlen > rw) rw = seqs[i].rlen;
    }
    int64_t T = pw + rw;
    *P = pw;
    if (n < 1 || T < 2) return err_set("trainer: a batch needs at least one sequence of two tokens");
    int64_t *h = mem_calloc((size_t)(n * T), sizeof *h);
    uint8_t *m = mem_calloc((size_t)(n * T), 1);
    for (int i = 0; i < n; i++) {
        const trainer_seq *s = &seqs[i];
        int64_t start = pw - s->plen;
        for (int t = 0; t < s->plen; t++) h[i * T + start + t] = s->prompt[t];
        for (int t = 0; t < s->rlen; t++) h[i * T + pw + t] = s->resp[t];
        for (int64_t t = start; t < pw + s->rlen; t++) m[i * T + t] = 1;
    }
    int64_t shape[2] = {n, T};
    *ids = ts_from_host(h, shape, 2, TS_I64, dev);
    *mask = ts_from_host(m, shape, 2, TS_BOOL, dev);
    free(h);
    free(m);
    return *ids && *mask ? T : -1;
}
