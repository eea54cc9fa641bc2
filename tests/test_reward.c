/* test_reward — the reward registry and every built-in term: the shaping test vectors of
 * docs/ALGORITHMS.md (DAPO overlong §4, DeGRPO table §5, L-GRPO §7, cosine §8), format,
 * countdown, knights-and-knaves, GSM8K, config keys and their errors, metrics, and the external
 * command under crash, timeout, malformed and non-finite replies and replies out of step with
 * their requests (scored as configured, counted, restarted). */
#include "check.h"

#include "common/cfg.h"
#include "common/err.h"
#include "data/data.h"
#include "rewards/reward.h"

#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double sub(const reward_result *r, const char *name) {
    for (int k = 0; k < r->n_sub; k++)
        if (!strcmp(r->sub[k].name, name)) return r->sub[k].value;
    return NAN;
}

static reward *make(rlvr_config *c, const char *const *sets) {
    CHECK(cfg_init(c) == 0);
    for (; sets && *sets; sets++)
        if (cfg_set(c, *sets)) fprintf(stderr, "cfg_set(%s): %s\n", *sets, err_msg());
    reward *r = reward_init(c);
    if (!r) fprintf(stderr, "reward_init: %s\n", err_msg());
    return r;
}

static reward_result score(reward *r, const char *completion, const char *answer, int64_t length) {
    reward_input in = {.completion = completion, .answer = answer, .length = length};
    reward_result out;
    CHECK(reward_score(r, &in, &out) == 0);
    return out;
}

static void test_defaults_score_math_accuracy(void) {
    rlvr_config c;
    reward *r = make(&c, NULL);
    CHECK(r != NULL);
    reward_result a = score(r, "So \\boxed{\\dfrac{1}{2}}.", "0.5", -1);
    CHECK(a.correct == 1);
    CHECK_CLOSE(a.score, 1.0, 1e-12, 0);
    CHECK_CLOSE(sub(&a, "accuracy"), 1.0, 1e-12, 0);
    reward_result b = score(r, "So \\boxed{3}.", "0.5", -1);
    CHECK(b.correct == 0);
    CHECK_CLOSE(b.score, 0.0, 1e-12, 0);
    reward_result e = score(r, NULL, "1", -1);
    CHECK(e.correct == 0);
    reward_metric m[REWARD_MAX_METRICS];
    int nm = reward_metrics(r, m, REWARD_MAX_METRICS);
    int seen = 0;
    for (int i = 0; i < nm; i++) {
        if (!strcmp(m[i].name, "reward/accuracy")) {
            CHECK_CLOSE(m[i].value, 1.0 / 3, 1e-12, 0);
            seen++;
        }
        if (!strcmp(m[i].name, "reward/scored")) {
            CHECK_CLOSE(m[i].value, 3, 0, 0);
            seen++;
        }
    }
    CHECK(seen == 2);
    reward_metrics_reset(r);
    nm = reward_metrics(r, m, REWARD_MAX_METRICS);
    CHECK(nm >= 1 && m[0].value == 0);
    /* after a reset, a sub-score's mean covers only what was scored since */
    score(r, "So \\boxed{3}.", "0.5", -1);
    nm = reward_metrics(r, m, REWARD_MAX_METRICS);
    for (int i = 0; i < nm; i++)
        if (!strcmp(m[i].name, "reward/accuracy")) CHECK_CLOSE(m[i].value, 0.0, 0, 0);
    reward_free(r);
    reward_free(NULL);
    cfg_free(&c);
}

static void test_dapo_overlong_vectors(void) { /* ALGORITHMS.md §4, L_max 20480, L_cache 4096 */
    CHECK_CLOSE(reward_overlong(16384, 20480, 4096), 0.0, 1e-12, 0);
    CHECK_CLOSE(reward_overlong(16385, 20480, 4096), -0.000244140625, 1e-12, 0);
    CHECK_CLOSE(reward_overlong(18432, 20480, 4096), -0.5, 1e-12, 0);
    CHECK_CLOSE(reward_overlong(20480, 20480, 4096), -1.0, 1e-12, 0);
    CHECK_CLOSE(reward_overlong(20481, 20480, 4096), -1.0, 1e-12, 0);
    const char *sets[] = {"reward.accuracy.correct=1", "reward.accuracy.wrong=-1",
                          "reward.overlong.weight=1", NULL};
    rlvr_config c;
    reward *r = make(&c, sets);
    reward_result a = score(r, "\\boxed{2}", "2", 18432); /* correct but long: 1 - 0.5 */
    CHECK_CLOSE(a.score, 0.5, 1e-12, 0);
    CHECK_CLOSE(sub(&a, "overlong"), -0.5, 1e-12, 0);
    reward_result b = score(r, "\\boxed{3}", "2", 100);
    CHECK_CLOSE(b.score, -1.0, 1e-12, 0);
    reward_free(r);
    cfg_free(&c);
}

static void test_cosine_vectors(void) { /* ALGORITHMS.md §8, paper values, L_max 14336 */
    reward_cosine_params p = {2, 1, -10, 0, -10, 16, 14336};
    CHECK_CLOSE(reward_cosine(0, 1, &p), 2.0, 1e-6, 0);
    CHECK_CLOSE(reward_cosine(3584, 1, &p), 1.853553, 1e-6, 0);
    CHECK_CLOSE(reward_cosine(7168, 1, &p), 1.5, 1e-6, 0);
    CHECK_CLOSE(reward_cosine(0, 0, &p), -10.0, 1e-6, 0);
    CHECK_CLOSE(reward_cosine(3584, 0, &p), -8.535534, 1e-6, 0);
    CHECK_CLOSE(reward_cosine(7168, 0, &p), -5.0, 1e-6, 0);
    CHECK_CLOSE(reward_cosine(14320, 1, &p), -10.0, 1e-12, 0); /* L + 16 >= L_max: r_e */
    CHECK(reward_cosine(14319, 1, &p) > 1.0);
    const char *sets[] = {"reward.accuracy.weight=0", "reward.cosine.weight=1", NULL};
    rlvr_config c;
    reward *r = make(&c, sets);
    reward_result a = score(r, "\\boxed{5}", "5", 3584);
    CHECK_CLOSE(a.score, 1.853553, 1e-6, 0);
    reward_free(r);
    cfg_free(&c);
}

static void test_thinkless_table(void) { /* ALGORITHMS.md §5: 1 / 0.5 / -1 / -1 / -1 */
    const char *sets[] = {"reward.accuracy.weight=0", "reward.thinkless.weight=1", NULL};
    rlvr_config c;
    reward *r = make(&c, sets);
    CHECK_CLOSE(score(r, "<short>\\boxed{4}", "4", -1).score, 1.0, 1e-12, 0);
    CHECK_CLOSE(score(r, " <think>2+2</think>\\boxed{4}", "4", -1).score, 0.5, 1e-12, 0);
    CHECK_CLOSE(score(r, "<short>\\boxed{5}", "4", -1).score, -1.0, 1e-12, 0);
    CHECK_CLOSE(score(r, "<think>hmm</think>\\boxed{5}", "4", -1).score, -1.0, 1e-12, 0);
    CHECK_CLOSE(score(r, "\\boxed{4}", "4", -1).score, -1.0, 1e-12, 0); /* no control token */
    CHECK_CLOSE(score(r, "<think>never closed \\boxed{4}", "4", -1).score, -1.0, 1e-12, 0);
    reward_result t = score(r, "<think>x</think>\\boxed{4}", "4", -1);
    CHECK_CLOSE(sub(&t, "think_mode"), 1.0, 0, 0);
    CHECK(reward_thinkless_mode("  <short>5") == REWARD_MODE_SHORT);
    CHECK(reward_thinkless_mode("5 <short>") == REWARD_MODE_NONE);
    reward_free(r);
    cfg_free(&c);
}

static void test_lgrpo_only_in_all_correct_groups(void) { /* ALGORITHMS.md §7 */
    const char *sets[] = {"reward.lgrpo.weight=0.5", "reward.lgrpo.max_len=400", NULL};
    rlvr_config c;
    reward *r = make(&c, sets);
    reward_input in[3] = {{.completion = "\\boxed{7}", .answer = "7", .length = 100},
                          {.completion = "\\boxed{7}", .answer = "7", .length = 200},
                          {.completion = "\\boxed{7}", .answer = "7", .length = 400}};
    reward_result out[3];
    CHECK(reward_score_group(r, in, 3, out) == 0);
    CHECK_CLOSE(out[0].score, 1.375, 1e-12, 0);
    CHECK_CLOSE(out[1].score, 1.25, 1e-12, 0);
    CHECK_CLOSE(out[2].score, 1.0, 1e-12, 0);
    CHECK_CLOSE(sub(&out[0], "lgrpo"), 0.75, 1e-12, 0);
    in[1].completion = "\\boxed{8}";
    CHECK(reward_score_group(r, in, 3, out) == 0);
    CHECK_CLOSE(out[0].score, 1.0, 1e-12, 0);
    CHECK_CLOSE(out[1].score, 0.0, 1e-12, 0);
    CHECK_CLOSE(sub(&out[0], "lgrpo"), 0.0, 0, 0);
    CHECK(reward_score_group(r, in, 0, out) == -1);
    CHECK_CONTAINS(err_msg(), "g >= 1");
    reward_free(r);
    cfg_free(&c);
}

static void test_format(void) {
    CHECK(reward_format_check("<think>a</think> 5") == 1);
    CHECK(reward_format_check("\n<think>a\nb</think>\nThe answer is 5.") == 1);
    CHECK(reward_format_check("<think>a 5") == 0);
    CHECK(reward_format_check("5") == 0);
    CHECK(reward_format_check("<think>a</think>   ") == 0);
    CHECK(reward_format_check("<think><think>a</think>5") == 0);
    CHECK(reward_format_check(NULL) == 0);
}

static void test_countdown(void) {
    int64_t n3[] = {6, 4, 2}, n2[] = {6, 4};
    CHECK(reward_countdown_check("(6+4)*2", n3, 3, 20) == 1);
    CHECK(reward_countdown_check(" 6 + 4 + 2 ", n3, 3, 12) == 1);
    CHECK(reward_countdown_check("6/4*2", n3, 3, 3) == 1);  /* exact rationals */
    CHECK(reward_countdown_check("6 \xc3\x97 4 \xc3\xb7 2", n3, 3, 12) == 1); /* × ÷ */
    CHECK(reward_countdown_check("6+4", n3, 3, 10) == 1);    /* not every number must be used */
    CHECK(reward_countdown_check("6+6", n2, 2, 12) == 0);    /* used twice */
    CHECK(reward_countdown_check("6+5", n2, 2, 11) == 0);    /* not offered */
    CHECK(reward_countdown_check("6/(4-4)", n3, 3, 0) == 0); /* division by zero */
    CHECK(reward_countdown_check("-6+4", n2, 2, -2) == 0);   /* no unary minus */
    CHECK(reward_countdown_check("(6+4", n2, 2, 10) == 0);
    CHECK(reward_countdown_check("6+4)", n2, 2, 10) == 0);
    CHECK(reward_countdown_check("__import__('os')", n2, 2, 10) == 0);
    CHECK(reward_countdown_check("99999999999999999999+1", n2, 2, 10) == 0);
    char deep[30000];
    memset(deep, '(', 20000);
    strcpy(deep + 20000, "6+4");
    CHECK(reward_countdown_check(deep, n2, 2, 10) == 0);
    CHECK(reward_countdown_grade("<think>try</think><answer>(6+4)*2</answer>", n3, 3, 20) == 1);
    CHECK(reward_countdown_grade("Let me see.\n(6+4)*2 = 20\nDone", n3, 3, 20) == 1);
    CHECK(reward_countdown_grade("no expression", n3, 3, 20) == 0);
    rlvr_config c;
    const char *sets[] = {"reward.verifier=countdown", NULL};
    reward *r = make(&c, sets);
    reward_input in = {.completion = "<answer>(6+4)*2</answer>",
                       .metadata = "{\"numbers\": [6, 4, 2], \"target\": 20}", .length = -1};
    reward_result out;
    CHECK(reward_score(r, &in, &out) == 0 && out.correct == 1);
    in.metadata = NULL;
    in.answer = "{\"numbers\": [6, 4, 2], \"target\": 21}";
    CHECK(reward_score(r, &in, &out) == 0 && out.correct == 0);
    in.answer = "not json";
    CHECK(reward_score(r, &in, &out) == 0 && out.correct == 0);
    reward_free(r);
    cfg_free(&c);
}

static void test_knights_and_knaves(void) {
    data_kk_puzzle p, q;
    char prompt[2048], answer[256], prompt2[2048], answer2[256];
    int ok = 1;
    for (int n = 2; n <= 6; n++)
        for (uint64_t seed = 1; seed <= 20; seed++) {
            CHECK(data_kk_generate(seed, n, &p) == 0);
            CHECK(data_kk_format(&p, prompt, sizeof prompt, answer, sizeof answer) == 0);
            ok = ok && reward_kk_grade(answer, answer) == 1;
            /* flipping one role must fail */
            char wrong[256], wprompt[2048];
            data_kk_puzzle flipped = p;
            flipped.knight[seed % (uint64_t)n] ^= 1;
            data_kk_format(&flipped, wprompt, sizeof wprompt, wrong, sizeof wrong);
            ok = ok && reward_kk_grade(wrong, answer) == 0;
        }
    CHECK(ok);
    CHECK(data_kk_generate(7, 4, &p) == 0 && data_kk_generate(7, 4, &q) == 0);
    data_kk_format(&p, prompt, sizeof prompt, answer, sizeof answer);
    data_kk_format(&q, prompt2, sizeof prompt2, answer2, sizeof answer2);
    CHECK_STR(prompt, prompt2); /* deterministic in the seed */
    CHECK_CONTAINS(prompt, "knights and knaves");
    CHECK(data_kk_generate(1, 1, &p) == -1);
    CHECK_CONTAINS(err_msg(), "expected 2..8 people");
    CHECK(reward_kk_grade("<think>Alice is a knave?</think> Alice is a knight, Bob is a knave.",
                          "Alice: knight, Bob: knave") == 1);
    CHECK(reward_kk_grade("Alice is a knight.", "Alice: knight, Bob: knave") == 0);
}

static void test_gsm8k(void) {
    CHECK(reward_gsm8k_grade("She has 18 eggs.\n#### 18", "Janet... #### 18") == 1);
    CHECK(reward_gsm8k_grade("The answer is 1,234.", "1234") == 1);
    CHECK(reward_gsm8k_grade("#### 17", "18") == 0);
    CHECK(reward_gsm8k_grade("so 3 + 4 = 7 apples", "#### 7") == 1);
}

static void test_config_errors(void) {
    rlvr_config c;
    CHECK(cfg_init(&c) == 0);
    CHECK(cfg_set(&c, "reward.verifier=chess") == -1);
    CHECK_CONTAINS(err_msg(), "math|gsm8k|countdown|kk|none");
    CHECK(cfg_set(&c, "reward.cosine.wrong_at_0=1") == -1);
    CHECK(cfg_set(&c, "reward.overlong.max_len=100") == 0);
    CHECK(cfg_set(&c, "reward.overlong.buffer=200") == 0);
    CHECK(reward_init(&c) == NULL);
    CHECK_CONTAINS(err_msg(), "reward.overlong.buffer");
    cfg_free(&c);
    const char *bad_ext[] = {"reward.external.weight=1", "reward.external.command=/nonexistent/prog", NULL};
    CHECK(make(&c, bad_ext) == NULL);
    CHECK_CONTAINS(err_msg(), "reward.external.command");
    cfg_free(&c);
    const char *empty_ext[] = {"reward.external.weight=1", NULL};
    CHECK(make(&c, empty_ext) == NULL);
    CHECK_CONTAINS(err_msg(), "empty list");
    cfg_free(&c);
    const char *bad_plugin[] = {"reward.plugin.weight=1", "reward.plugin.path=/nonexistent.so", NULL};
    CHECK(make(&c, bad_plugin) == NULL);
    CHECK_CONTAINS(err_msg(), "reward.plugin.path");
    cfg_free(&c);
}

static int64_t metric(reward *r, const char *name) {
    reward_metric m[REWARD_MAX_METRICS];
    int nm = reward_metrics(r, m, REWARD_MAX_METRICS);
    for (int i = 0; i < nm; i++)
        if (!strcmp(m[i].name, name)) return (int64_t)m[i].value;
    return -1;
}

static void test_external_command(void) {
    const char *src = getenv("RLVR_SRC");
    char cmd[4200];
    snprintf(cmd, sizeof cmd,
             "reward.external.command=[\"/usr/bin/python3\", \"%s/examples/rewards/external_reward.py\"]",
             src ? src : ".");
    const char *good[] = {"reward.accuracy.weight=0", "reward.external.weight=1", cmd, NULL};
    rlvr_config c;
    reward *r = make(&c, good);
    CHECK(r != NULL);
    if (r) {
        reward_result a = score(r, "work\n42", "42", -1);
        CHECK_CLOSE(sub(&a, "external.hit"), 1.0, 0, 0);
        CHECK(a.score > 1.0 && a.score < 1.1);
        reward_result b = score(r, "work\n41", "42", -1);
        CHECK_CLOSE(sub(&b, "external.hit"), 0.0, 0, 0);
        CHECK(metric(r, "reward/external_failures") == 0);
    }
    reward_free(r);
    cfg_free(&c);

    const char *crash[] = {"reward.accuracy.weight=0", "reward.external.weight=1",
                           "reward.external.failure_score=-2",
                           "reward.external.command=[\"/bin/sh\", \"-c\", \"read l; exit 3\"]", NULL};
    r = make(&c, crash);
    CHECK(r != NULL);
    if (r) {
        CHECK_CLOSE(score(r, "x", "1", -1).score, -2.0, 0, 0);
        CHECK_CLOSE(score(r, "x", "1", -1).score, -2.0, 0, 0);
        CHECK(metric(r, "reward/external_crashes") == 2);
        CHECK(metric(r, "reward/external_restarts") == 1);
    }
    reward_free(r);
    cfg_free(&c);

    const char *slow[] = {"reward.accuracy.weight=0", "reward.external.weight=1",
                          "reward.external.timeout_s=0.2",
                          "reward.external.command=[\"/bin/sh\", \"-c\", \"sleep 30\"]", NULL};
    r = make(&c, slow);
    CHECK(r != NULL);
    if (r) {
        double t0 = now();
        CHECK_CLOSE(score(r, "x", "1", -1).score, 0.0, 0, 0);
        CHECK(now() - t0 < 2.0);
        CHECK(metric(r, "reward/external_timeouts") == 1);
    }
    reward_free(r);
    cfg_free(&c);

    const char *garbage[] = {"reward.accuracy.weight=0", "reward.external.weight=1",
                             "reward.external.failure_score=-1",
                             "reward.external.command=[\"/bin/sh\", \"-c\", \"while read l; do echo '{\\\"score\\\": \\\"high\\\"}'; done\"]",
                             NULL};
    r = make(&c, garbage);
    CHECK(r != NULL);
    if (r) {
        CHECK_CLOSE(score(r, "x", "1", -1).score, -1.0, 0, 0);
        CHECK(metric(r, "reward/external_malformed") == 1);
        CHECK_CONTAINS(err_msg(), "reply has no numeric \"id\" (expected 1, the request's)");
    }
    reward_free(r);
    cfg_free(&c);
}

/* A Python reward command that answers by the completion's text, one reply per request unless
 * the text asks otherwise; it keeps no state, so a restart changes nothing. */
static const char replier_py[] =
    "import json, sys\n"
    "for line in sys.stdin:\n"
    "    req = json.loads(line)\n"
    "    i, c = req['id'], req['completion']\n"
    "    replies = {\n"
    "        'ok': '{\"id\": %d, \"score\": 0.5, \"subscores\": {\"len\": 2}}' % i,\n"
    "        'inf': '{\"id\": %d, \"score\": 1e999}' % i,\n"
    "        '-inf': '{\"id\": %d, \"score\": -1e999}' % i,\n"
    "        'nan': json.dumps({'id': i, 'score': float('nan')}),\n"
    "        'sub-inf': '{\"id\": %d, \"score\": 1, \"subscores\": {\"len\": 1e999}}' % i,\n"
    "        'sub-name': '{\"id\": %d, \"score\": 1, \"subscores\": {\"a\\\\\"b\": 1}}' % i,\n"
    "        'string': '{\"id\": %d, \"score\": \"high\"}' % i,\n"
    "        'twice': '{\"id\": %d, \"score\": 0.25}\\n{\"id\": %d, \"score\": 0.25}' % (i, i),\n"
    "        'old-id': '{\"id\": %d, \"score\": 0.75}' % (i - 1),\n"
    "    }\n"
    "    sys.stdout.write(replies[c] + '\\n')\n"
    "    sys.stdout.flush()\n";

/* Each bad reply scores failure_score, is counted under its cause with the message saying what
 * was wrong, and the next request goes to a fresh process that answers normally. */
static void expect_refused(reward *r, const char *completion, const char *counter, int64_t count,
                           const char *message) {
    CHECK_CLOSE(score(r, completion, "1", -1).score, -3.0, 0, 0);
    CHECK_CONTAINS(err_msg(), message);
    CHECK(metric(r, counter) == count);
    reward_result ok = score(r, "ok", "1", -1);
    CHECK_CLOSE(ok.score, 0.5, 0, 0);
    CHECK_CLOSE(sub(&ok, "external.len"), 2.0, 0, 0);
}

static void test_external_reply_checks(void) {
    char dir[] = "/tmp/test_reward.XXXXXX", script[64], cmd[160];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(script, sizeof script, "%s/replier.py", dir);
    FILE *f = fopen(script, "w");
    CHECK(f && fputs(replier_py, f) >= 0 && fclose(f) == 0);
    snprintf(cmd, sizeof cmd, "reward.external.command=[\"/usr/bin/python3\", \"%s\"]", script);
    const char *sets[] = {"reward.accuracy.weight=0", "reward.external.weight=1",
                          "reward.external.failure_score=-3", cmd, NULL};
    rlvr_config c;
    reward *r = make(&c, sets);
    CHECK(r != NULL);
    if (r) {
        CHECK_CLOSE(score(r, "ok", "1", -1).score, 0.5, 0, 0);
        expect_refused(r, "inf", "reward/external_malformed", 1, "reply has no finite numeric \"score\"");
        expect_refused(r, "-inf", "reward/external_malformed", 2, "reply has no finite numeric \"score\"");
        expect_refused(r, "nan", "reward/external_malformed", 3, "reply is not a JSON object");
        expect_refused(r, "sub-inf", "reward/external_malformed", 4, "sub-score \"len\" is not a finite number");
        expect_refused(r, "sub-name", "reward/external_malformed", 5,
                       "sub-score name 'a\"b' is not 1-22 letters, digits, '_', '-' or '.'");
        expect_refused(r, "string", "reward/external_malformed", 6, "reply has no finite numeric \"score\"");
        /* request 14 answered twice: its score stands; request 15 reads the spare reply */
        CHECK_CLOSE(score(r, "twice", "1", -1).score, 0.25, 0, 0);
        expect_refused(r, "ok", "reward/external_mismatched", 1,
                       "reply carries id 14, expected 15: the command wrote other than one reply per request");
        expect_refused(r, "old-id", "reward/external_mismatched", 2, "reply carries id 16, expected 17");
        CHECK(metric(r, "reward/external_failures") == 8);
        CHECK(metric(r, "reward/external_restarts") == 8);
        CHECK(metric(r, "reward/external_crashes") == 0);
        CHECK(metric(r, "reward/external_timeouts") == 0);
    }
    reward_free(r);
    cfg_free(&c);
    CHECK(remove(script) == 0 && remove(dir) == 0);
}

int main(void) {
    test_defaults_score_math_accuracy();
    test_dapo_overlong_vectors();
    test_cosine_vectors();
    test_thinkless_table();
    test_lgrpo_only_in_all_correct_groups();
    test_format();
    test_countdown();
    test_knights_and_knaves();
    test_gsm8k();
    test_config_errors();
    test_external_command();
    test_external_reply_checks();
    CHECK_DONE();
}
