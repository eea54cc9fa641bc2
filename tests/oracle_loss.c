/* oracle_loss — the policy loss of trainer/loss.h from outside, for tests/oracle_trl_loss.py.
 *
 * One batch per line of stdin, a JSON object: "set" (config assignments, e.g.
 * "algo.aggregation=token_mean", read as `rlvr train --set` reads them), "logp", "old_logp",
 * "ref_logp" and "entropy" ((n, T) nested arrays; the last three may be absent or null), "mask"
 * ((n, T)) and "adv" ((n)). Each batch is one whole optimiser step (one micro-batch, one rank),
 * computed in f64. Writes one line per batch: {"loss": x, "grad": d loss / d logp as (n, T)}.
 * A bad line stops the run with its line number and exit status 1.
 * Not here: micro-batch splits and ranks (tests/test_loss.c checks those sum to the whole). */
#include "common/cfg.h"
#include "common/err.h"
#include "common/mem.h"
#include "tensor/ts.h"
#include "trainer/loss.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An (n, T) array of arrays of numbers as a new f64 tensor in the current scope; NULL for an
 * absent or null item when optional, else NULL with err_set. *n and *t are set by the first
 * matrix read (*n < 0) and checked against it afterwards. */
static ts_tensor *matrix(const cJSON *j, const char *name, int optional, int64_t *n, int64_t *t) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, name);
    if (optional && (!a || cJSON_IsNull(a))) return NULL;
    if (!cJSON_IsArray(a)) {
        err_set("\"%s\": expected an (n, T) array of arrays of numbers", name);
        return NULL;
    }
    int64_t rows = cJSON_GetArraySize(a), cols = rows ? cJSON_GetArraySize(a->child) : 0;
    if (*n >= 0 && (rows != *n || cols != *t)) {
        err_set("\"%s\" is (%lld, %lld), expected the shape of \"logp\" (%lld, %lld)", name, (long long)rows,
                (long long)cols, (long long)*n, (long long)*t);
        return NULL;
    }
    *n = rows;
    *t = cols;
    double *v = mem_alloc(sizeof *v * (size_t)(rows * cols + 1));
    int64_t i = 0;
    for (const cJSON *r = a->child; r; r = r->next, i++) {
        if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) != cols) {
            free(v);
            err_set("\"%s\"[%lld]: expected an array of %lld numbers", name, (long long)i, (long long)cols);
            return NULL;
        }
        int64_t k = 0;
        for (const cJSON *e = r->child; e; e = e->next, k++) {
            if (!cJSON_IsNumber(e)) {
                free(v);
                err_set("\"%s\"[%lld][%lld] is not a number", name, (long long)i, (long long)k);
                return NULL;
            }
            v[i * cols + k] = e->valuedouble;
        }
    }
    ts_tensor *x = ts_from_data(v, (int64_t[]){rows, cols}, 2, TS_F64);
    free(v);
    return x;
}

/* The loss options from the "set" assignments over the config defaults. */
static int options(const cJSON *j, loss_opts *o) {
    rlvr_config c;
    if (cfg_init(&c)) return -1;
    int rc = 0;
    const cJSON *sets = cJSON_GetObjectItemCaseSensitive(j, "set");
    if (sets && !cJSON_IsArray(sets)) rc = err_set("\"set\": expected an array of \"key=value\" strings");
    for (const cJSON *s = sets ? sets->child : NULL; s && !rc; s = s->next)
        rc = cJSON_IsString(s) ? cfg_set(&c, s->valuestring) : err_set("\"set\": expected strings");
    if (!rc) rc = loss_opts_from_cfg(&c, o);
    cfg_free(&c);
    return rc;
}

static void print_result(double loss, const double *grad, int64_t n, int64_t t) {
    printf("{\"loss\": %.17g, \"grad\": [", loss);
    for (int64_t i = 0; i < n; i++) {
        fputs(i ? ", [" : "[", stdout);
        for (int64_t k = 0; k < t; k++) printf(k ? ", %.17g" : "%.17g", grad[i * t + k]);
        fputs("]", stdout);
    }
    puts("]}");
}

/* One batch line: compute and print. */
static int run_line(const char *line) {
    cJSON *j = cJSON_Parse(line);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return err_set("not a JSON object");
    }
    loss_opts o;
    int rc = options(j, &o);
    int64_t n = -1, t = -1;
    double *adv = NULL, *grad = NULL;
    ts_scope_begin();
    ts_tensor *logp = rc ? NULL : matrix(j, "logp", 0, &n, &t);
    loss_batch b = {.logp = logp};
    if (!logp) rc = -1;
    else if (!(b.mask = matrix(j, "mask", 0, &n, &t))) rc = -1;
    else {
        b.old_logp = matrix(j, "old_logp", 1, &n, &t);
        b.ref_logp = matrix(j, "ref_logp", 1, &n, &t);
        b.entropy = matrix(j, "entropy", 1, &n, &t);
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "adv");
        if (err_msg()[0]) rc = -1;
        else if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
            rc = err_set("\"adv\": expected an array of %lld numbers, one per row of \"logp\"", (long long)n);
        else {
            adv = mem_alloc(sizeof *adv * (size_t)(n + 1));
            int64_t i = 0;
            for (const cJSON *e = a->child; e && !rc; e = e->next, i++)
                rc = cJSON_IsNumber(e) ? (adv[i] = e->valuedouble, 0) : err_set("\"adv\"[%lld] is not a number", (long long)i);
            b.adv = adv;
        }
    }
    loss_counts counts = {0};
    ts_tensor *loss = NULL;
    double value = 0;
    if (!rc && !ts_set_requires_grad(logp, 1) && !loss_count(&o, &b, &counts) &&
        (loss = loss_compute(&o, &b, &counts, NULL)) && !ts_item_f64(loss, &value) && !ts_backward(loss)) {
        grad = mem_alloc(sizeof *grad * (size_t)(n * t + 1));
        rc = ts_to_host(ts_grad(logp), grad, sizeof *grad * (size_t)(n * t));
    } else rc = -1;
    ts_scope_end();
    if (!rc) print_result(value, grad, n, t);
    free(adv);
    free(grad);
    cJSON_Delete(j);
    return rc;
}

int main(void) {
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    while (getline(&line, &cap, stdin) > 0) {
        lineno++;
        if (line[0] == '\n') continue;
        err_clear();
        if (run_line(line)) {
            fprintf(stderr, "oracle_loss: stdin line %d: %s\n", lineno, err_msg());
            free(line);
            return 1;
        }
    }
    free(line);
    return 0;
}
