/* test_rolloutlog — the rollout log: rows appended step by step, sub-score columns that appear
 * late (NaN before), bad appends refused with nothing written, the h5py view
 * (tests/rolloutlog_check.py), and a resumed log (rows of redone steps dropped) identical to the
 * log of a straight run. */
#include "check.h"

#include "common/err.h"
#include "trainer/rolloutlog.h"

#include <hdf5.h>
#include <stdlib.h>
#include <unistd.h>

static const int32_t prompt_ids[2][10] = {{3, 3, 3, 10, 13, 3, 3, 11, 8, 14}, {3, 3, 4, 5, 13, 3, 3, 3, 12, 14}};
static const int32_t think_ids[9] = {17, 10, 8, 5, 4, 15, 18, 12, 5};
static const int32_t short_ids[3] = {16, 12, 5};

/* Step `step` of the fixture: 2 prompts x G completions; from step 1 on, sample 0 also has a
 * "format" sub-score and sample 1 lacks "accuracy". */
static int append_step(rolloutlog *l, int64_t step) {
    const int G = step == 0 ? 3 : 2;
    rolloutlog_prompt p[2] = {
        {step * 10 + 5, "0007+0085=", "92", prompt_ids[0], 10},
        {step * 10 + 6, "0012+0009=", "21", prompt_ids[1], 10},
    };
    rolloutlog_completion c[6];
    reward_subscore subs[6][3];
    for (int i = 0; i < 2 * G; i++) {
        int think = i % 2 == 0;
        int n = 0;
        snprintf(subs[i][n].name, REWARD_NAME_MAX, "correct");
        subs[i][n++].value = think;
        if (!(step > 0 && i % G == 1)) {
            snprintf(subs[i][n].name, REWARD_NAME_MAX, "accuracy");
            subs[i][n++].value = think ? 1 : -1;
        }
        if (step > 0 && i % G == 0) {
            snprintf(subs[i][n].name, REWARD_NAME_MAX, "format");
            subs[i][n++].value = 0.5;
        }
        c[i] = (rolloutlog_completion){i / G,
                                       i % G,
                                       think ? "<think>7521;</think>92" : "<short>92",
                                       think ? think_ids : short_ids,
                                       think ? 9 : 3,
                                       think ? "stop" : "length",
                                       think ? 1.0 : -1.0,
                                       step + 0.25 * i,
                                       subs[i],
                                       n};
    }
    return rolloutlog_append(l, step, p, 2, c, 2 * G);
}

static void run_python(const char *args) {
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("skipping the h5py check: /usr/bin/python3 not found\n");
        return;
    }
    char cmd[1024];
    const char *src = getenv("RLVR_SRC");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/rolloutlog_check.py %s", src ? src : ".", args);
    CHECK(system(cmd) == 0);
}

static void test_append_and_read_with_h5py(const char *dir, char *straight) {
    snprintf(straight, 256, "%s/straight.h5", dir);
    rolloutlog *l = rolloutlog_open(straight, 0);
    CHECK(l != NULL);
    if (!l) return;
    CHECK(append_step(l, 0) == 0 && append_step(l, 1) == 0 && append_step(l, 2) == 0);
    CHECK(rolloutlog_prompt_rows(l) == 6 && rolloutlog_completion_rows(l) == 14);
    /* refused appends write nothing */
    rolloutlog_prompt p = {0, "x", NULL, NULL, 0};
    rolloutlog_completion bad = {1, 0, "y", NULL, 0, NULL, 0, 0, NULL, 0};
    CHECK(rolloutlog_append(l, 2, &p, 1, &bad, 1) == -1);
    CHECK_CONTAINS(err_msg(), "completion 0 refers to prompt 1 of 1");
    CHECK(rolloutlog_append(l, 1, &p, 1, NULL, 0) == -1);
    CHECK_CONTAINS(err_msg(), "step 1 after step 2 (steps must not decrease)");
    rolloutlog_prompt no_ids = {0, "x", NULL, NULL, 4};
    CHECK(rolloutlog_append(l, 3, &no_ids, 1, NULL, 0) == -1);
    CHECK_CONTAINS(err_msg(), "prompt 0 has no ids for its 4 tokens");
    CHECK(rolloutlog_append(l, -1, NULL, 0, NULL, 0) == -1);
    CHECK(rolloutlog_prompt_rows(l) == 6 && rolloutlog_completion_rows(l) == 14);
    CHECK(rolloutlog_close(l) == 0);
    CHECK(rolloutlog_close(NULL) == 0);
    run_python(straight);
}

static void test_resume_drops_redone_steps(const char *dir, const char *straight) {
    char path[256], args[600];
    snprintf(path, sizeof path, "%s/resumed.h5", dir);
    rolloutlog *l = rolloutlog_open(path, 0);
    CHECK(l && append_step(l, 0) == 0 && append_step(l, 1) == 0 && append_step(l, 2) == 0);
    CHECK(rolloutlog_close(l) == 0);
    /* stopped after step 0's checkpoint: steps 1 and 2 are redone */
    l = rolloutlog_open(path, 1);
    CHECK(l != NULL);
    if (!l) return;
    CHECK(rolloutlog_prompt_rows(l) == 2 && rolloutlog_completion_rows(l) == 6);
    CHECK(append_step(l, 1) == 0 && append_step(l, 2) == 0);
    CHECK(rolloutlog_close(l) == 0);
    snprintf(args, sizeof args, "%s %s", path, straight);
    run_python(args);
    /* a missing log is created on resume */
    snprintf(path, sizeof path, "%s/fresh.h5", dir);
    l = rolloutlog_open(path, 5);
    CHECK(l && rolloutlog_completion_rows(l) == 0);
    CHECK(rolloutlog_close(l) == 0);
}

static void test_bad_files(const char *dir) {
    char path[256];
    snprintf(path, sizeof path, "%s/plain.h5", dir);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    CHECK(rolloutlog_open(path, 1) == NULL);
    CHECK_CONTAINS(err_msg(), "not an rlvr rollout log");
    snprintf(path, sizeof path, "%s/future.h5", dir);
    rolloutlog *l = rolloutlog_open(path, 0);
    CHECK(rolloutlog_close(l) == 0);
    f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    int64_t v = 9;
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Fclose(f);
    CHECK(rolloutlog_open(path, 1) == NULL);
    CHECK_CONTAINS(err_msg(), "format version 9, but this build writes version 1");
    snprintf(path, sizeof path, "%s/text.h5", dir);
    FILE *fp = fopen(path, "w");
    fputs("not hdf5\n", fp);
    fclose(fp);
    CHECK(rolloutlog_open(path, 1) == NULL);
    CHECK_CONTAINS(err_msg(), "opening failed");
    CHECK(rolloutlog_open("/nonexistent/dir/log.h5", 0) == NULL);
    CHECK_CONTAINS(err_msg(), "rollout log '/nonexistent/dir/log.h5': creating failed");
}

int main(void) {
    char dir[] = "/tmp/rlvr_rlog_XXXXXX", straight[256];
    if (!mkdtemp(dir)) return 1;
    test_append_and_read_with_h5py(dir, straight);
    test_resume_drops_redone_steps(dir, straight);
    test_bad_files(dir);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    H5close();
    CHECK_DONE();
}
