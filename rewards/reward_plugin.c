/* reward_plugin — a reward written in C (or anything with a C ABI), loaded with dlopen. The ABI is
 * four functions, documented in reward.h and docs/REWARDS.md; the version function guards against
 * loading a plugin built for another ABI. Deliberately not here: isolation (a plugin runs in our
 * process: a crash in it is a crash of the run; use the external command for untrusted code). */
#include "reward.h"

#include "common/err.h"
#include "common/mem.h"

#include <dlfcn.h>
#include <stdlib.h>

typedef int (*abi_fn)(void);
typedef void *(*init_fn)(const char *arg);
typedef int (*score_fn)(void *state, const char *prompt, const char *completion,
                        const char *answer, const char *metadata, double *score);
typedef void (*free_fn)(void *state);

struct reward_plugin {
    void *lib, *state;
    score_fn score;
    free_fn free_state;
};

reward_plugin *reward_plugin_load(const char *path, const char *arg) {
    if (!path || !path[0]) {
        err_set("reward.plugin.path: expected the path of a shared object, got nothing");
        return NULL;
    }
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        err_set("reward.plugin.path: cannot load '%s': %s", path, dlerror());
        return NULL;
    }
    abi_fn abi = (abi_fn)dlsym(lib, "rlvr_reward_plugin_abi");
    init_fn init = (init_fn)dlsym(lib, "rlvr_reward_plugin_init");
    score_fn score = (score_fn)dlsym(lib, "rlvr_reward_plugin_score");
    free_fn fr = (free_fn)dlsym(lib, "rlvr_reward_plugin_free");
    if (!abi || !init || !score || !fr) {
        err_set("reward plugin '%s': missing one of rlvr_reward_plugin_abi/init/score/free", path);
        dlclose(lib);
        return NULL;
    }
    int v = abi();
    if (v != REWARD_PLUGIN_ABI) {
        err_set("reward plugin '%s': ABI version %d, expected %d", path, v, REWARD_PLUGIN_ABI);
        dlclose(lib);
        return NULL;
    }
    reward_plugin *p = mem_calloc(1, sizeof *p);
    p->lib = lib;
    p->score = score;
    p->free_state = fr;
    p->state = init(arg ? arg : "");
    if (!p->state) {
        err_set("reward plugin '%s': init failed (reward.plugin.arg = '%s')", path, arg ? arg : "");
        dlclose(lib);
        free(p);
        return NULL;
    }
    return p;
}

int reward_plugin_score(reward_plugin *p, const reward_input *in, double *score) {
    *score = 0;
    int rc = p->score(p->state, in->prompt ? in->prompt : "", in->completion ? in->completion : "",
                      in->answer ? in->answer : "", in->metadata ? in->metadata : "", score);
    return rc ? err_set("reward plugin: score returned %d", rc) : 0;
}

void reward_plugin_free(reward_plugin *p) {
    if (!p) return;
    p->free_state(p->state);
    dlclose(p->lib);
    free(p);
}
