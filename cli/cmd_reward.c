/* rlvr reward — dry-run a reward setup on saved completions: JSON lines in, one score per line out.
 *
 * Input (stdin), one object per line: {"prompt": s, "completion": s, "answer": s} with optional
 * "metadata" (an object, passed on as JSON text) and "length" (tokens; the byte length otherwise).
 * Output (stdout), one line per input line, in order: {"score": x, "correct": b, "subscores":
 * {...}}, or {"error": "..."} for a line that is not such an object (the exit status is then 1).
 * With --group G, every G consecutive lines are scored as one group (L-GRPO needs the group).
 * The means of all sub-scores and the failure counters go to stderr at the end.
 * Not here: token counting (pass "length"), parallel scoring. */
#include "cli.h"

#include "common/cfg.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "rewards/reward.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: rlvr reward --config CONFIG.json [--set key=value ...] [--group G] < in.jsonl > out.jsonl\n\n"
    "Scores JSON lines {\"prompt\", \"completion\", \"answer\"[, \"metadata\", \"length\"]} with the\n"
    "`reward` section of the config and writes {\"score\", \"correct\", \"subscores\"} per line.\n"
    "--group G   score every G consecutive lines as the completions of one prompt.\n";

typedef struct row {
    cJSON *json;
    char *meta;
    reward_input in;
    char error[200];
} row;

static void row_clear(row *r) {
    cJSON_Delete(r->json);
    free(r->meta);
    memset(r, 0, sizeof *r);
}

/* Parse one input line into r; on a bad line r->error says why. */
static void row_parse(row *r, const char *line, long lineno) {
    r->json = cJSON_Parse(line);
    r->in.length = -1;
    if (!cJSON_IsObject(r->json)) {
        snprintf(r->error, sizeof r->error, "stdin line %ld: expected a JSON object", lineno);
        return;
    }
    const char *keys[] = {"prompt", "completion", "answer"};
    const char **dst[] = {&r->in.prompt, &r->in.completion, &r->in.answer};
    for (int k = 0; k < 3; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, keys[k]);
        if (v && !cJSON_IsString(v) && !cJSON_IsNull(v)) {
            snprintf(r->error, sizeof r->error, "stdin line %ld: \"%s\" must be a string", lineno, keys[k]);
            return;
        }
        *dst[k] = cJSON_IsString(v) ? v->valuestring : NULL;
    }
    if (!r->in.completion) {
        snprintf(r->error, sizeof r->error, "stdin line %ld: missing \"completion\"", lineno);
        return;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r->json, "metadata");
    if (m && !cJSON_IsNull(m)) {
        r->meta = cJSON_IsString(m) ? mem_strdup(m->valuestring) : cJSON_PrintUnformatted(m);
        r->in.metadata = r->meta;
    }
    const cJSON *len = cJSON_GetObjectItemCaseSensitive(r->json, "length");
    if (len && (!cJSON_IsNumber(len) || len->valuedouble < 0 || len->valuedouble > 1e15)) {
        snprintf(r->error, sizeof r->error, "stdin line %ld: \"length\" must be a number in [0, 1e15]", lineno);
        return;
    }
    if (len) r->in.length = (int64_t)len->valuedouble;
}

static void print_result(const reward_result *res) {
    cJSON *o = cJSON_CreateObject(), *subs = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "score", res->score);
    cJSON_AddBoolToObject(o, "correct", res->correct);
    for (int k = 0; k < res->n_sub; k++) cJSON_AddNumberToObject(subs, res->sub[k].name, res->sub[k].value);
    cJSON_AddItemToObject(o, "subscores", subs);
    cli_put_json(o);
}

static void print_error(const char *msg) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    cli_put_json(o);
}

/* Score the n rows of one group (n == 1 without --group); bad rows are reported, not scored. */
static int flush(reward *rw, row *rows, int n, int group) {
    int bad = 0;
    for (int i = 0; i < n; i++) bad += rows[i].error[0] != '\0';
    reward_input *in = mem_calloc((size_t)n, sizeof *in);
    reward_result *res = mem_calloc((size_t)n, sizeof *res);
    int rc = 0;
    if (bad) {
        for (int i = 0; i < n; i++) {
            if (rows[i].error[0]) {
                fprintf(stderr, "rlvr: error: %s\n", rows[i].error);
                print_error(rows[i].error);
            } else {
                print_error("not scored: another line of its group is malformed");
            }
        }
        rc = 1;
    } else {
        for (int i = 0; i < n; i++) in[i] = rows[i].in;
        if (group ? reward_score_group(rw, in, n, res) : reward_score(rw, in, res)) {
            free(in);
            free(res);
            return cli_fail(NULL), -1;
        }
        for (int i = 0; i < n; i++) print_result(&res[i]);
    }
    free(in);
    free(res);
    for (int i = 0; i < n; i++) row_clear(&rows[i]);
    return rc;
}

int cmd_reward(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    rlvr_config c;
    memset(&c, 0, sizeof c);
    char **rest = mem_calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0, rc = 1, group = 0;
    reward *rw = NULL;
    row *rows = NULL;
    char *line = NULL;
    if (cli_load_config(argc, argv, &c, 1, rest, &nrest)) {
        rc = cli_fail(NULL);
        goto out;
    }
    for (int i = 1; i < nrest; i++) {
        if (!strcmp(rest[i], "--group") && i + 1 < nrest) {
            char *end;
            long g = strtol(rest[++i], &end, 10);
            if (*end || g < 1 || g > 4096) {
                rc = cli_fail("--group: expected an integer in [1,4096]");
                goto out;
            }
            group = (int)g;
        } else {
            fprintf(stderr, "rlvr: error: unknown argument '%s' for `rlvr reward`\n%s", rest[i], usage);
            rc = 2;
            goto out;
        }
    }
    rw = reward_init(&c);
    if (!rw) {
        rc = cli_fail(NULL);
        goto out;
    }
    int cap = group ? group : 1, n = 0, status = 0;
    rows = mem_calloc((size_t)cap, sizeof *rows);
    size_t lcap = 0;
    long lineno = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, stdin)) >= 0) {
        lineno++;
        if (len <= 1 && (len == 0 || line[0] == '\n')) continue;
        row_parse(&rows[n++], line, lineno);
        if (n == cap) {
            int r = flush(rw, rows, n, group);
            if (r < 0) goto out;
            status |= r;
            n = 0;
        }
    }
    if (n) {
        fprintf(stderr, "rlvr: error: the last group has %d lines, expected %d (--group)\n", n, cap);
        for (int i = 0; i < n; i++) print_error("not scored: incomplete group at the end of the input");
        for (int i = 0; i < n; i++) row_clear(&rows[i]);
        status = 1;
    }
    fflush(stdout);
    reward_metric m[REWARD_MAX_METRICS];
    int nm = reward_metrics(rw, m, REWARD_MAX_METRICS);
    for (int i = 0; i < nm; i++) log_info("%-28s %.6g", m[i].name, m[i].value);
    rc = status;
out:
    free(line);
    free(rows);
    reward_free(rw);
    cfg_free(&c);
    free(rest);
    return rc;
}
