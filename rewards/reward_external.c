/* reward_external — a reward computed by another program: a long-lived subprocess started with
 * execve (no shell), fed one JSON request per line on stdin, answering one JSON line on stdout.
 * Each request carries an id the reply must echo, so a command that writes more or fewer lines
 * than it is asked for is caught at the next reply instead of shifting every later score by one.
 * Each call has a deadline; the child runs under CPU-time, address-space and open-file limits.
 * Any failure (the child died, did not answer in time, answered something that is not
 * {"id": n, "score": finite number, ...}, or answered another request) kills it, is counted, and
 * the next call starts a fresh one, so a broken reward script costs a failure score, never the
 * training run.
 * Deliberately not here: a pool of workers (one process, one request at a time), sandboxing beyond
 * rlimits (run the command inside your own container or jail when the code is untrusted). */
#define _GNU_SOURCE /* pipe2 */
#include "reward.h"

#include "common/err.h"
#include "common/mem.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REPLY_MAX (1 << 20)

extern char **environ;

struct reward_external {
    char **argv;
    int argc;
    char path[4096]; /* resolved program */
    double timeout_s;
    int64_t cpu_s, memory_mb, max_files;
    pid_t pid;
    int to_child, from_child;
    char *buf; /* bytes read past the last reply line */
    size_t nbuf;
    int64_t next_id; /* the id of the next request, counted from 1 over every process */
    reward_external_stats st;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* argv[0] as given when it holds a '/', else the first executable match in PATH. */
static int resolve(const char *prog, char *out, size_t cap) {
    if (strchr(prog, '/')) {
        snprintf(out, cap, "%s", prog);
        return access(out, X_OK) == 0 ? 0 : -1;
    }
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (len && (size_t)snprintf(out, cap, "%.*s/%s", (int)len, p, prog) < cap &&
            access(out, X_OK) == 0)
            return 0;
        p += len + (colon ? 1 : 0);
    }
    return -1;
}

static void stop_child(reward_external *x, int sig) {
    if (x->to_child >= 0) close(x->to_child);
    if (x->from_child >= 0) close(x->from_child);
    x->to_child = x->from_child = -1;
    x->nbuf = 0;
    if (x->pid > 0) {
        kill(-x->pid, sig);
        waitpid(x->pid, NULL, 0);
    }
    x->pid = -1;
}

static int spawn(reward_external *x) {
    int in[2], out[2], status[2];
    if (pipe2(in, O_CLOEXEC)) return err_set("external reward: pipe: %s", strerror(errno));
    if (pipe2(out, O_CLOEXEC)) {
        close(in[0]), close(in[1]);
        return err_set("external reward: pipe: %s", strerror(errno));
    }
    if (pipe2(status, O_CLOEXEC)) {
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        return err_set("external reward: pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]), close(in[1]), close(out[0]), close(out[1]), close(status[0]), close(status[1]);
        return err_set("external reward: fork: %s", strerror(errno));
    }
    if (pid == 0) { /* child: only async-signal-safe calls from here */
        setpgid(0, 0); /* its own process group, so a kill reaches what it started too */
        dup2(in[0], 0);
        dup2(out[1], 1);
        struct rlimit cpu = {(rlim_t)x->cpu_s, (rlim_t)x->cpu_s + 1};
        struct rlimit mem = {(rlim_t)x->memory_mb << 20, (rlim_t)x->memory_mb << 20};
        struct rlimit files = {(rlim_t)x->max_files, (rlim_t)x->max_files};
        setrlimit(RLIMIT_CPU, &cpu);
        setrlimit(RLIMIT_AS, &mem);
        setrlimit(RLIMIT_NOFILE, &files);
        execve(x->path, x->argv, environ);
        int e = errno;
        ssize_t w = write(status[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(in[0]), close(out[1]), close(status[1]);
    int e = 0;
    ssize_t r;
    do r = read(status[0], &e, sizeof e);
    while (r < 0 && errno == EINTR);
    close(status[0]);
    if (r > 0) {
        close(in[1]), close(out[0]);
        waitpid(pid, NULL, 0);
        return err_set("external reward: cannot execute '%s': %s", x->path, strerror(e));
    }
    setpgid(pid, pid); /* also from here, whichever runs first */
    fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
    fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    x->pid = pid;
    x->to_child = in[1];
    x->from_child = out[0];
    x->nbuf = 0;
    return 0;
}

reward_external *reward_external_start(char *const *argv, int argc, double timeout_s, int64_t cpu_s,
                                       int64_t memory_mb, int64_t max_files) {
    if (!argv || argc < 1 || !argv[0] || !argv[0][0]) {
        err_set("reward.external.command: expected a program and its arguments, got an empty list");
        return NULL;
    }
    reward_external *x = mem_calloc(1, sizeof *x);
    x->pid = -1;
    x->to_child = x->from_child = -1;
    x->timeout_s = timeout_s;
    x->cpu_s = cpu_s;
    x->memory_mb = memory_mb;
    x->max_files = max_files;
    x->argc = argc;
    x->argv = mem_calloc((size_t)argc + 1, sizeof *x->argv);
    x->buf = mem_alloc(REPLY_MAX + 1);
    for (int i = 0; i < argc; i++) x->argv[i] = mem_strdup(argv[i]);
    if (resolve(argv[0], x->path, sizeof x->path)) {
        err_set("reward.external.command: '%s' is not an executable file%s", argv[0],
                strchr(argv[0], '/') ? "" : " in PATH");
        reward_external_free(x);
        return NULL;
    }
    if (spawn(x)) {
        reward_external_free(x);
        return NULL;
    }
    return x;
}

void reward_external_free(reward_external *x) {
    if (!x) return;
    if (x->pid > 0) { /* EOF on stdin asks it to exit; then TERM, then KILL */
        close(x->to_child);
        x->to_child = -1;
        int done = 0;
        for (int i = 0; i < 50 && !done; i++) {
            done = waitpid(x->pid, NULL, WNOHANG) == x->pid;
            if (!done) usleep(10000);
        }
        if (done) x->pid = -1;
        else {
            kill(-x->pid, SIGTERM);
            for (int i = 0; i < 50 && !done; i++) {
                done = waitpid(x->pid, NULL, WNOHANG) == x->pid;
                if (!done) usleep(10000);
            }
            if (done) x->pid = -1;
        }
        stop_child(x, SIGKILL);
    }
    for (int i = 0; x->argv && i < x->argc; i++) free(x->argv[i]);
    free(x->argv);
    free(x->buf);
    free(x);
}

reward_external_stats reward_external_get_stats(const reward_external *x) {
    reward_external_stats z = {0};
    return x ? x->st : z;
}

/* Write all of s before the deadline; SIGPIPE is blocked for this thread while writing. */
static int write_all(reward_external *x, const char *s, size_t n, double deadline) {
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    int rc = 0;
    while (n > 0) {
        double left = deadline - now_s();
        if (left <= 0) {
            rc = 1;
            break;
        }
        struct pollfd pf = {.fd = x->to_child, .events = POLLOUT};
        int pr = poll(&pf, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) {
            rc = pr == 0 ? 1 : 2;
            break;
        }
        ssize_t w = write(x->to_child, s, n);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (w <= 0) {
            rc = 2;
            break;
        }
        s += w, n -= (size_t)w;
    }
    if (rc == 2) { /* consume the SIGPIPE this raised, if any */
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc; /* 0 ok, 1 timeout, 2 child gone */
}

/* Read one line into x->buf (NUL-terminated, without '\n'); returns its length, or -1 timeout,
 * -2 child gone, -3 line too long. Bytes after the line are kept for the next call. */
static long read_line(reward_external *x, double deadline, size_t *consumed) {
    for (;;) {
        char *nl = memchr(x->buf, '\n', x->nbuf);
        if (nl) {
            *nl = '\0';
            *consumed = (size_t)(nl - x->buf) + 1;
            return (long)(nl - x->buf);
        }
        if (x->nbuf >= REPLY_MAX) return -3;
        double left = deadline - now_s();
        if (left <= 0) return -1;
        struct pollfd pf = {.fd = x->from_child, .events = POLLIN};
        int pr = poll(&pf, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR) continue;
        if (pr == 0) return -1;
        if (pr < 0) return -2;
        ssize_t r = read(x->from_child, x->buf + x->nbuf, REPLY_MAX - x->nbuf);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r <= 0) return -2;
        x->nbuf += (size_t)r;
    }
}

static cJSON *request_json(const reward_input *in, int64_t id) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "prompt", in->prompt ? in->prompt : "");
    cJSON_AddStringToObject(o, "completion", in->completion ? in->completion : "");
    cJSON_AddStringToObject(o, "reference", in->answer ? in->answer : "");
    cJSON *meta = in->metadata ? cJSON_Parse(in->metadata) : NULL;
    if (meta) cJSON_AddItemToObject(o, "metadata", meta);
    else cJSON_AddNullToObject(o, "metadata");
    return o;
}

static int fail(reward_external *x, int64_t *counter, const char *what) {
    x->st.failures++;
    (*counter)++;
    stop_child(x, SIGKILL);
    return err_set("external reward '%s': %s", x->argv[0], what);
}

/* A sub-score name becomes the metric "reward/external.<name>" and a key of metrics.jsonl. */
static int subscore_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > REWARD_EXTERNAL_NAME_MAX) return 0;
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9') &&
            !strchr("_-.", *s))
            return 0;
    return 1;
}

/* Check a parsed reply against request `id` and take its scores; 0, or -1 after fail(). */
static int take_reply(reward_external *x, const cJSON *rep, int64_t id, double *score,
                      reward_subscore *sub, int *nsub, int cap) {
    char what[160];
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(rep, "id");
    if (!cJSON_IsNumber(rid)) {
        snprintf(what, sizeof what, "reply has no numeric \"id\" (expected %lld, the request's)", (long long)id);
        return fail(x, &x->st.malformed, what);
    }
    if (rid->valuedouble != (double)id) {
        snprintf(what, sizeof what,
                 "reply carries id %.17g, expected %lld: the command wrote other than one reply per request",
                 rid->valuedouble, (long long)id);
        return fail(x, &x->st.mismatched, what);
    }
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(rep, "score");
    if (!cJSON_IsNumber(sc) || !isfinite(sc->valuedouble))
        return fail(x, &x->st.malformed, "reply has no finite numeric \"score\"");
    const cJSON *subs = cJSON_GetObjectItemCaseSensitive(rep, "subscores");
    if (subs && !cJSON_IsObject(subs)) return fail(x, &x->st.malformed, "\"subscores\" is not an object");
    for (const cJSON *it = subs ? subs->child : NULL; it; it = it->next) {
        if (!subscore_name_ok(it->string)) {
            snprintf(what, sizeof what,
                     "sub-score name '%.40s' is not 1-%d letters, digits, '_', '-' or '.'",
                     it->string, REWARD_EXTERNAL_NAME_MAX);
            return fail(x, &x->st.malformed, what);
        }
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) {
            snprintf(what, sizeof what, "sub-score \"%s\" is not a finite number", it->string);
            return fail(x, &x->st.malformed, what);
        }
    }
    *score = sc->valuedouble;
    for (const cJSON *it = subs ? subs->child : NULL; it && *nsub < cap; it = it->next) {
        snprintf(sub[*nsub].name, sizeof sub[*nsub].name, "external.%s", it->string);
        sub[*nsub].value = it->valuedouble;
        (*nsub)++;
    }
    return 0;
}

int reward_external_call(reward_external *x, const reward_input *in, double *score,
                         reward_subscore *sub, int *nsub, int cap) {
    *nsub = 0;
    *score = 0;
    x->st.calls++;
    if (x->pid < 0) {
        if (spawn(x)) {
            x->st.failures++;
            x->st.crashes++;
            return -1;
        }
        x->st.restarts++;
    }
    int64_t id = ++x->next_id;
    cJSON *req = request_json(in, id);
    char *line = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    size_t len = strlen(line);
    double deadline = now_s() + x->timeout_s;
    int w = write_all(x, line, len, deadline);
    if (!w) w = write_all(x, "\n", 1, deadline);
    free(line);
    if (w == 1) return fail(x, &x->st.timeouts, "timed out writing the request");
    if (w == 2) return fail(x, &x->st.crashes, "the process exited");
    size_t consumed = 0;
    long n = read_line(x, deadline, &consumed);
    if (n == -1) return fail(x, &x->st.timeouts, "no reply within reward.external.timeout_s");
    if (n == -2) return fail(x, &x->st.crashes, "the process exited");
    if (n == -3) return fail(x, &x->st.malformed, "reply line longer than 1 MiB");
    cJSON *rep = cJSON_Parse(x->buf);
    memmove(x->buf, x->buf + consumed, x->nbuf - consumed);
    x->nbuf -= consumed;
    int rc = cJSON_IsObject(rep) ? take_reply(x, rep, id, score, sub, nsub, cap)
                                 : fail(x, &x->st.malformed, "reply is not a JSON object");
    cJSON_Delete(rep);
    return rc;
}
