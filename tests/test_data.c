/* test_data — datasets: JSONL loading with every bad-line error (file and line), checksums against
 * FNV-1a reference values, the deterministic shuffle and a resumed cursor continuing the identical
 * stream, and the built-in tasks: determinism, splits, and every SFT response graded correct by
 * the rewards module, with the addition traces re-derived digit by digit. */
#include "check.h"

#include "common/cfg.h"
#include "common/err.h"
#include "data/data.h"
#include "rewards/reward.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <unistd.h>

static char tmp_path[64];

static const char *write_tmp(const char *text, size_t len) {
    if (tmp_path[0]) unlink(tmp_path);
    snprintf(tmp_path, sizeof tmp_path, "/tmp/rlvr_data_XXXXXX");
    int fd = mkstemp(tmp_path);
    FILE *f = fdopen(fd, "wb");
    fwrite(text, 1, len, f);
    fclose(f);
    return tmp_path;
}

static const data_fields default_fields = {"prompt", "answer", "response", "metadata", "task", NULL};

static void test_fnv1a64_reference_values(void) {
    CHECK(data_fnv1a64(DATA_FNV_OFFSET, "", 0) == 0xcbf29ce484222325ull);
    CHECK(data_fnv1a64(DATA_FNV_OFFSET, "a", 1) == 0xaf63dc4c8601ec8cull);
    CHECK(data_fnv1a64(DATA_FNV_OFFSET, "foobar", 6) == 0x85944171f73967e8ull);
    /* continuing from a prefix equals hashing the whole */
    CHECK(data_fnv1a64(data_fnv1a64(DATA_FNV_OFFSET, "foo", 3), "bar", 3) == 0x85944171f73967e8ull);
}

static void test_jsonl_loads_fields_and_checksum(void) {
    const char text[] = "\xEF\xBB\xBF{\"prompt\": \"1+1?\", \"answer\": \"2\", \"metadata\": {\"level\": 1}}\n"
                        "\n"
                        "  \r\n"
                        "{\"prompt\": \"half: \xc2\xbd \\u00e9 \xf0\x9f\x98\x80\", \"answer\": 0.5, \"task\": \"gsm8k\", \"extra\": [1]}\r\n"
                        "{\"prompt\": \"big\", \"answer\": 1234567, \"response\": \"<think>x</think>1234567\","
                        " \"metadata\": {\"task\": \"math\"}, \"task\": \"countdown\"}";
    const char *path = write_tmp(text, sizeof text - 1);
    data_set *d = data_load_jsonl(path, &default_fields);
    CHECK(d != NULL);
    if (!d) return;
    CHECK(d->n == 3);
    CHECK_STR(d->name, path);
    CHECK(d->checksum == data_fnv1a64(DATA_FNV_OFFSET, text, sizeof text - 1));
    CHECK_STR(d->ex[0].prompt, "1+1?");
    CHECK_STR(d->ex[0].answer, "2");
    CHECK_STR(d->ex[0].metadata, "{\"level\":1}");
    CHECK(d->ex[0].response == NULL && d->ex[0].response_short == NULL);
    CHECK(d->ex[0].line == 1);
    CHECK_STR(d->ex[1].prompt, "half: \xc2\xbd \xc3\xa9 \xf0\x9f\x98\x80"); /* multi-byte UTF-8 passes */
    CHECK_STR(d->ex[1].answer, "0.5");
    CHECK_STR(d->ex[1].metadata, "{\"task\":\"gsm8k\"}");
    CHECK(d->ex[1].line == 4);
    CHECK_STR(d->ex[2].answer, "1234567");
    CHECK_STR(d->ex[2].response, "<think>x</think>1234567");
    CHECK_STR(d->ex[2].metadata, "{\"task\":\"countdown\"}"); /* the task field wins */
    CHECK(d->ex[2].line == 5);
    data_set_free(d);

    /* other field names; answer not read (SFT pairs) */
    const char sft[] = "{\"question\": \"q1\", \"solution\": \"s1\"}\n{\"question\": \"q2\"}\n";
    data_fields f = {"question", "", "solution", NULL, NULL, NULL};
    d = data_load_jsonl(write_tmp(sft, sizeof sft - 1), &f);
    CHECK(d && d->n == 2);
    if (d) {
        CHECK_STR(d->ex[0].prompt, "q1");
        CHECK(d->ex[0].answer == NULL);
        CHECK_STR(d->ex[0].response, "s1");
        CHECK(d->ex[1].response == NULL);
    }
    data_set_free(d);
}

/* Load text; expect failure with "<path>:<line>: <fragment>" (line 0: the path alone). */
static void expect_bad(const char *text, int line, const char *fragment) {
    const char *path = write_tmp(text, strlen(text));
    err_clear();
    data_set *d = data_load_jsonl(path, &default_fields);
    CHECK(d == NULL);
    data_set_free(d);
    char where[128];
    if (line) snprintf(where, sizeof where, "%s:%d: ", path, line);
    else snprintf(where, sizeof where, "'%s'", path);
    CHECK_CONTAINS(err_msg(), where);
    CHECK_CONTAINS(err_msg(), fragment);
}

static void test_jsonl_bad_lines_name_file_and_line(void) {
    const char *ok = "{\"prompt\": \"p\", \"answer\": \"a\"}\n";
    char buf[512];
    snprintf(buf, sizeof buf, "%s%s{\"prompt\": \"p\", \"answer\": }\n", ok, ok);
    expect_bad(buf, 3, "not valid JSON");
    snprintf(buf, sizeof buf, "%s{\"answer\": \"a\"}\n", ok);
    expect_bad(buf, 2, "missing field 'prompt'");
    snprintf(buf, sizeof buf, "%s\n{\"prompt\": \"p\"}\n", ok);
    expect_bad(buf, 3, "missing field 'answer'");
    expect_bad("{\"prompt\": 5, \"answer\": \"a\"}\n", 1, "field 'prompt' must be a string, got a number");
    expect_bad("{\"prompt\": \"p\", \"answer\": [1]}\n", 1, "field 'answer' must be a string or a number, got an array");
    expect_bad("{\"prompt\": \"p\", \"answer\": \"a\", \"metadata\": \"x\"}\n", 1, "field 'metadata' must be an object");
    expect_bad("{\"prompt\": \"p\", \"answer\": \"a\", \"task\": 3}\n", 1, "field 'task' must be a string");
    expect_bad("{\"prompt\": \"p\", \"answer\": \"a\", \"response\": true}\n", 1, "field 'response' must be a string, got a boolean");
    expect_bad("[\"prompt\"]\n", 1, "expected a JSON object, got an array");
    expect_bad("{\"prompt\": \"p\", \"answer\": \"a\"} {\"x\": 1}\n", 1, "text after the JSON value");
    expect_bad("prompt,answer\n", 1, "not valid JSON");
    snprintf(buf, sizeof buf, "%s{\"prompt\": \"1+1=\xff\", \"answer\": \"2\"}\n", ok);
    expect_bad(buf, 2, "field 'prompt' is not valid UTF-8 (byte 0xff at offset 4 of the string)");
    expect_bad("{\"prompt\": \"p\", \"answer\": \"\xed\xa0\x80\"}\n", 1,
               "field 'answer' is not valid UTF-8 (byte 0xed at offset 0 of the string)");
    expect_bad("{\"prompt\": \"p\", \"answer\": \"a\", \"response\": \"\xc3\xa9\xc0\x80\"}\n", 1,
               "field 'response' is not valid UTF-8 (byte 0xc0 at offset 2 of the string)");
    expect_bad("", 0, "holds no example (empty dataset)");
    expect_bad("\n  \n\n", 0, "holds no example (empty dataset)");
    err_clear();
    CHECK(data_load_jsonl("/nonexistent/rlvr.jsonl", &default_fields) == NULL);
    CHECK_CONTAINS(err_msg(), "cannot open '/nonexistent/rlvr.jsonl'");
}

static int is_permutation(const int64_t *p, int64_t n) {
    int seen[64] = {0};
    for (int64_t i = 0; i < n; i++) {
        if (p[i] < 0 || p[i] >= n || seen[p[i]]) return 0;
        seen[p[i]] = 1;
    }
    return 1;
}

static void test_permutation_is_a_pure_function_of_seed_and_epoch(void) {
    int64_t a[50], b[50], c[50], e[50];
    data_permutation(1234, 0, 50, a);
    data_permutation(1234, 0, 50, b);
    data_permutation(1234, 1, 50, c);
    data_permutation(1235, 0, 50, e);
    CHECK(is_permutation(a, 50) && is_permutation(c, 50) && is_permutation(e, 50));
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    CHECK(memcmp(a, e, sizeof a) != 0);
    /* Pinned: these orders are part of every saved run (a changed order breaks resume). The
     * values were also computed by an independent Python re-implementation of Philox-4x32-10,
     * splitmix64, rejection sampling and Fisher-Yates: pure integer arithmetic, the same anywhere. */
    int64_t p[10];
    data_permutation(1234, 0, 10, p);
    static const int64_t pinned0[10] = {5, 0, 3, 7, 4, 9, 2, 8, 1, 6};
    CHECK(memcmp(p, pinned0, sizeof p) == 0);
    data_permutation(1234, 7, 10, p);
    static const int64_t pinned7[10] = {1, 7, 8, 0, 5, 2, 4, 9, 6, 3};
    CHECK(memcmp(p, pinned7, sizeof p) == 0);
    data_permutation(99, 0, 1, p);
    CHECK(p[0] == 0);
}

static void test_sampler_resumes_the_identical_stream(void) {
    const int64_t n = 7, total = 40;
    int64_t straight[40];
    data_sampler *s = data_sampler_init(n, 42, 1);
    CHECK(s != NULL);
    if (!s) return;
    for (int i = 0; i < total; i++) straight[i] = data_sampler_next(s);
    data_sampler_free(s);
    /* every epoch visits each example once */
    for (int ep = 0; ep < 5; ep++) CHECK(is_permutation(straight + ep * n, n));
    CHECK(memcmp(straight, straight + n, (size_t)n * sizeof *straight) != 0);
    for (int k = 0; k <= total; k += 3) {
        data_sampler *a = data_sampler_init(n, 42, 1);
        for (int i = 0; i < k; i++) data_sampler_next(a);
        uint8_t cur[DATA_CURSOR_BYTES];
        data_sampler_save(a, cur);
        data_sampler_free(a);
        data_sampler *b = data_sampler_init(n, 42, 1);
        CHECK(data_sampler_restore(b, cur, sizeof cur) == 0);
        int same = 1;
        for (int i = k; i < total; i++) same &= data_sampler_next(b) == straight[i];
        CHECK(same);
        data_sampler_free(b);
    }
    /* the cursor bytes: magic, seed, n, shuffle, epoch, position (little-endian) */
    data_sampler *a = data_sampler_init(n, 42, 1);
    for (int i = 0; i < 9; i++) data_sampler_next(a);
    uint8_t cur[DATA_CURSOR_BYTES];
    data_sampler_save(a, cur);
    CHECK(memcmp(cur, "RLVRCUR1", 8) == 0);
    CHECK(cur[8] == 42 && cur[16] == 7 && cur[24] == 1 && cur[32] == 1 && cur[40] == 2);
    data_sampler *wrong_n = data_sampler_init(8, 42, 1), *wrong_seed = data_sampler_init(7, 43, 1),
                 *no_shuffle = data_sampler_init(7, 42, 0);
    CHECK(data_sampler_restore(wrong_n, cur, sizeof cur) == -1);
    CHECK_CONTAINS(err_msg(), "saved for a dataset of 7 examples, this one has 8");
    CHECK(data_sampler_restore(wrong_seed, cur, sizeof cur) == -1);
    CHECK_CONTAINS(err_msg(), "shuffle seed 42, this run uses 43");
    CHECK(data_sampler_restore(no_shuffle, cur, sizeof cur) == -1);
    CHECK_CONTAINS(err_msg(), "saved with shuffle on");
    CHECK(data_sampler_restore(a, cur, 10) == -1);
    CHECK_CONTAINS(err_msg(), "not a saved cursor");
    cur[40] = 9; /* position beyond the dataset */
    CHECK(data_sampler_restore(a, cur, sizeof cur) == -1);
    CHECK_CONTAINS(err_msg(), "outside the dataset");
    /* without shuffling: file order every epoch */
    int ordered = 1;
    for (int i = 0; i < 20; i++) ordered &= data_sampler_next(no_shuffle) == i % 7;
    CHECK(ordered);
    data_sampler_free(a);
    data_sampler_free(wrong_n);
    data_sampler_free(wrong_seed);
    data_sampler_free(no_shuffle);
    CHECK(data_sampler_init(0, 1, 1) == NULL);
    data_sampler_free(NULL);
}

/* Re-derive an addition example from its prompt: operands, per-digit trace, sum, token counts. */
static int addition_is_right(const data_example *e, int *digits_out) {
    int a, b;
    char tail;
    if (strlen(e->prompt) != 10 || sscanf(e->prompt, "%4d+%4d%c", &a, &b, &tail) != 3 || tail != '=') return 0;
    cJSON *m = cJSON_Parse(e->metadata);
    const cJSON *dj = cJSON_GetObjectItemCaseSensitive(m, "digits");
    const cJSON *diff = cJSON_GetObjectItemCaseSensitive(m, "difficulty");
    int d = cJSON_IsNumber(dj) ? dj->valueint : -1;
    int ok = d >= 1 && d <= 4 && cJSON_IsString(diff) && strcmp(diff->valuestring, d == 1 ? "easy" : "hard") == 0;
    cJSON_Delete(m);
    int lim = d == 1 ? 10 : d == 2 ? 100 : d == 3 ? 1000 : 10000;
    ok = ok && a < lim && b < lim && (d == 1 || a >= lim / 10 || b >= lim / 10);
    char want[128], sum[16];
    snprintf(sum, sizeof sum, "%d", a + b);
    size_t o = (size_t)snprintf(want, sizeof want, "<think>");
    for (int i = 0, carry = 0, p = 1; i < d; i++, p *= 10) {
        int ai = a / p % 10, bi = b / p % 10, s = ai + bi + carry;
        carry = s / 10;
        o += (size_t)snprintf(want + o, sizeof want - o, "%d%d%d%d;", ai, bi, s % 10, carry);
    }
    snprintf(want + o, sizeof want - o, "</think>%s", sum);
    ok = ok && strcmp(e->response, want) == 0 && strcmp(e->answer, sum) == 0;
    char shrt[32];
    snprintf(shrt, sizeof shrt, "<short>%s", sum);
    ok = ok && strcmp(e->response_short, shrt) == 0;
    /* TOY-TASK.md's token counts: <think> + 5 per digit + </think> + the sum (+ <eos> added by the
     * tokenizer): 9 / 15 / 21 / 27 when the sum has d digits */
    int32_t ids[64];
    int nt = data_addition_split(e->response, ids, 64), ns = data_addition_split(e->response_short, ids, 64);
    ok = ok && nt + 1 == 3 + 5 * d + (int)strlen(sum) && ns + 1 == 2 + (int)strlen(sum);
    *digits_out = d;
    return ok;
}

static void test_addition_task_matches_toy_task_spec(void) {
    data_set *d = data_builtin(DATA_TASK_ADDITION, DATA_SPLIT_TRAIN, 1234, 400);
    CHECK(d && d->n == 400);
    if (!d) return;
    int right = 0, easy = 0, per_digits[5] = {0};
    for (int64_t i = 0; i < d->n; i++) {
        int dg = 0;
        right += addition_is_right(&d->ex[i], &dg);
        easy += dg == 1;
        if (dg >= 1 && dg <= 4) per_digits[dg]++;
    }
    CHECK(right == 400);
    CHECK(easy == 200); /* half and half */
    CHECK(per_digits[2] > 40 && per_digits[3] > 40 && per_digits[4] > 40);
    data_set_free(d);
    /* the 19 symbols and their ids */
    int32_t ids[32];
    CHECK(data_addition_split("<think>7521;0890;</think>92", ids, 32) == 14);
    CHECK(ids[0] == 17 && ids[1] == 10 && ids[5] == 15 && ids[11] == 18 && ids[12] == 12 && ids[13] == 5);
    CHECK(data_addition_split("0007+0085=", ids, 32) == 10);
    CHECK(ids[4] == 13 && ids[9] == 14);
    CHECK(data_addition_split("<short>12", ids, 32) == 3 && ids[0] == 16);
    CHECK(data_addition_split("7 + 5", ids, 32) == -1);
    CHECK_CONTAINS(err_msg(), "' ' at offset 1 is not one of the 19 symbols");
    CHECK(data_addition_split("0000000000", ids, 4) == -1);
    CHECK_STR(data_addition_symbols[0], "<pad>");
    CHECK_STR(data_addition_symbols[2], "<eos>");
}

static int64_t eval_prompt(const char *prompt) {
    long long a, b;
    char op;
    if (sscanf(prompt, "What is %lld %c %lld?", &a, &op, &b) != 3) return -1;
    return op == '+' ? a + b : op == '-' ? a - b : op == '*' ? a * b : -1;
}

/* Every built-in example, in both modes, is graded correct by the reward the run would use; the
 * metadata routes each row to its verifier. */
static void test_builtin_responses_are_graded_correct(void) {
    rlvr_config c;
    cfg_init(&c);
    reward *r = reward_init(&c);
    CHECK(r != NULL);
    for (int t = 0; t < 4 && r; t++) {
        data_set *d = data_builtin((data_task)t, DATA_SPLIT_TRAIN, 7, 120);
        data_set *d2 = data_builtin((data_task)t, DATA_SPLIT_TRAIN, 7, 120);
        data_set *test = data_builtin((data_task)t, DATA_SPLIT_TEST, 7, 120);
        data_set *other = data_builtin((data_task)t, DATA_SPLIT_TRAIN, 8, 120);
        CHECK(d && d2 && test && other);
        if (!d || !d2 || !test || !other) break;
        CHECK(d->checksum == d2->checksum);
        CHECK(d->checksum != test->checksum && d->checksum != other->checksum);
        int graded = 0, well_formed = 0, same_alone = 0;
        for (int64_t i = 0; i < d->n; i++) {
            const data_example *e = &d->ex[i];
            reward_result rr, rs;
            reward_input in = {e->prompt, e->response, e->answer, e->metadata, -1};
            reward_input is = {e->prompt, e->response_short, e->answer, e->metadata, -1};
            reward_score(r, &in, &rr);
            reward_score(r, &is, &rs);
            graded += rr.correct && rs.correct && reward_thinkless_mode(e->response) == REWARD_MODE_THINK &&
                      reward_thinkless_mode(e->response_short) == REWARD_MODE_SHORT;
            cJSON *m = cJSON_Parse(e->metadata);
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(m, "builtin");
            int ok = cJSON_IsString(b) && strcmp(b->valuestring, data_task_name((data_task)t)) == 0 &&
                     cJSON_GetObjectItemCaseSensitive(m, "difficulty") != NULL;
            if (t == DATA_TASK_ARITHMETIC) ok = ok && eval_prompt(e->prompt) == atoll(e->answer);
            if (t == DATA_TASK_COUNTDOWN) {
                const cJSON *nums = cJSON_GetObjectItemCaseSensitive(m, "numbers");
                const cJSON *tg = cJSON_GetObjectItemCaseSensitive(m, "target");
                int64_t v[8];
                int k = 0;
                for (const cJSON *it = nums ? nums->child : NULL; it && k < 8; it = it->next) v[k++] = (int64_t)it->valuedouble;
                ok = ok && (k == 3 || k == 4) && cJSON_IsNumber(tg) &&
                     reward_countdown_check(e->answer, v, k, (int64_t)tg->valuedouble) == 1;
                int steps = 0; /* one "a op b = c" line per operation: k - 1 */
                for (const char *p = strstr(e->response, " = "); p; p = strstr(p + 1, " = ")) steps++;
                ok = ok && steps == k - 1;
            }
            if (t == DATA_TASK_KK) {
                const cJSON *df = cJSON_GetObjectItemCaseSensitive(m, "difficulty");
                int people = 1;
                for (const char *p = e->answer; (p = strchr(p, ',')); p++) people++;
                ok = ok && cJSON_IsNumber(df) && df->valueint == people && reward_kk_grade(e->answer, e->answer);
            }
            cJSON_Delete(m);
            well_formed += ok;
            data_example one;
            if (data_builtin_example((data_task)t, DATA_SPLIT_TRAIN, 7, i, &one) == 0) {
                same_alone += strcmp(one.prompt, e->prompt) == 0 && strcmp(one.response, e->response) == 0;
                data_example_clear(&one);
            }
        }
        if (graded != d->n || well_formed != d->n)
            fprintf(stderr, "task %s: %d graded, %d well formed of %lld\n", data_task_name((data_task)t), graded,
                    well_formed, (long long)d->n);
        CHECK(graded == d->n);
        CHECK(well_formed == d->n);
        CHECK(same_alone == d->n);
        data_set_free(d);
        data_set_free(d2);
        data_set_free(test);
        data_set_free(other);
    }
    reward_free(r);
    cfg_free(&c);
}

static void test_builtin_pinned_examples(void) {
    /* Pinned: changing a generator changes every run's data (and the checksums in checkpoints). */
    data_example e;
    CHECK(data_builtin_example(DATA_TASK_ADDITION, DATA_SPLIT_TRAIN, 1234, 1, &e) == 0);
    CHECK_STR(e.prompt, "7692+3667=");
    CHECK_STR(e.response, "<think>2790;9651;6631;7311;</think>11359");
    data_example_clear(&e);
    CHECK(data_builtin_example(DATA_TASK_COUNTDOWN, DATA_SPLIT_TEST, 1234, 0, &e) == 0);
    CHECK_STR(e.metadata, "{\"task\":\"countdown\",\"builtin\":\"countdown\",\"difficulty\":3,\"numbers\":[70,81,67],\"target\":78}");
    data_example_clear(&e);
    CHECK(data_builtin_example(DATA_TASK_KK, DATA_SPLIT_TRAIN, 5, 3, &e) == 0);
    CHECK_STR(e.answer, "Jack: knight, Kate: knave, Mia: knave");
    data_example_clear(&e);
    CHECK(data_builtin_example((data_task)9, DATA_SPLIT_TRAIN, 1, 0, &e) == -1);
    CHECK(data_builtin(DATA_TASK_KK, DATA_SPLIT_TRAIN, 1, 0) == NULL);
    CHECK_CONTAINS(err_msg(), "at least one example");
    data_task t;
    CHECK(data_task_parse("countdown", &t) == 0 && t == DATA_TASK_COUNTDOWN);
    CHECK(data_task_parse("sudoku", &t) == -1);
    CHECK_CONTAINS(err_msg(), "unknown built-in task 'sudoku'");
}

static void test_data_open_follows_the_config(void) {
    rlvr_config c;
    cfg_init(&c);
    data_set *d = data_open(&c, DATA_SPLIT_TRAIN); /* default: built-in addition, 4096 */
    CHECK(d && d->n == 4096);
    if (d) CHECK_STR(d->name, "builtin:addition/train");
    data_set_free(d);
    CHECK(cfg_set(&c, "data.source=countdown") == 0 && cfg_set(&c, "data.test_size=16") == 0);
    d = data_open(&c, DATA_SPLIT_TEST);
    data_set *same = data_builtin(DATA_TASK_COUNTDOWN, DATA_SPLIT_TEST, 1234, 16);
    CHECK(d && same && d->n == 16 && d->checksum == same->checksum);
    data_set_free(d);
    CHECK(cfg_set(&c, "data.seed_offset=1") == 0);
    d = data_open(&c, DATA_SPLIT_TEST);
    CHECK(d && same && d->checksum != same->checksum);
    data_set_free(d);
    data_set_free(same);

    CHECK(cfg_set(&c, "data.source=jsonl") == 0);
    CHECK(data_open(&c, DATA_SPLIT_TRAIN) == NULL);
    CHECK_CONTAINS(err_msg(), "data.train_path is not set");
    const char rows[] = "{\"q\": \"x\", \"a\": \"1\"}\n{\"q\": \"y\", \"a\": \"2\"}\n";
    char set[128];
    snprintf(set, sizeof set, "data.test_path=%s", write_tmp(rows, sizeof rows - 1));
    CHECK(cfg_set(&c, set) == 0 && cfg_set(&c, "data.fields.prompt=q") == 0 && cfg_set(&c, "data.fields.answer=a") == 0);
    d = data_open(&c, DATA_SPLIT_TEST);
    CHECK(d && d->n == 2);
    if (d) CHECK_STR(d->ex[1].answer, "2");
    data_set_free(d);

    /* the sampler of the config: seed run.seed + data.seed_offset, data.shuffle */
    data_sampler *s = data_sampler_open(&c, 5), *ref = data_sampler_init(5, 1235, 1);
    int same_order = 1;
    for (int i = 0; i < 12; i++) same_order &= data_sampler_next(s) == data_sampler_next(ref);
    CHECK(same_order);
    data_sampler_free(s);
    data_sampler_free(ref);
    cfg_free(&c);
}

int main(void) {
    test_fnv1a64_reference_values();
    test_jsonl_loads_fields_and_checksum();
    test_jsonl_bad_lines_name_file_and_line();
    test_permutation_is_a_pure_function_of_seed_and_epoch();
    test_sampler_resumes_the_identical_stream();
    test_addition_task_matches_toy_task_spec();
    test_builtin_responses_are_graded_correct();
    test_builtin_pinned_examples();
    test_data_open_follows_the_config();
    if (tmp_path[0]) unlink(tmp_path);
    CHECK_DONE();
}
