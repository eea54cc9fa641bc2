/* batch — packing token sequences (prompt then response) into the padded tensors the model's
 * full-sequence forward takes. Private to trainer/.
 * Prompts are left-padded to the longest one (P tokens) and responses right-padded, so every
 * response starts at column P: column t of the forward's (n, T-1) log-probs predicts token t+1,
 * and response token j of every row sits in log-prob column P - 1 + j. */
#ifndef RLVR_TRAINER_BATCH_H
#define RLVR_TRAINER_BATCH_H

#include "tensor/ts.h"

#include <stdint.h>

typedef struct trainer_seq {
    const int32_t *prompt;
    int plen;            /* >= 1 */
    const int32_t *resp;
    int rlen;            /* >= 0 */
} trainer_seq;

/* ids (n, T) i64 padded with 0 and mask (n, T) bool on dev (the model's), T = P + longest rlen;
 * both in the caller's scope. *P gets the prompt width. Returns T, or -1 with err_set. */
int64_t trainer_pack(const trainer_seq *seqs, int n, ts_device dev, ts_tensor **ids, ts_tensor **mask, int64_t *P);

#endif
