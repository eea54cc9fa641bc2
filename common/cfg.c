/* cfg — parsing, validation and printing of the configuration, driven by cfg_schema; see cfg.h. */
#include "cfg.h"

#include "err.h"
#include "io.h"
#include "mem.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static void *field(rlvr_config *c, const cfg_key *k) { return (char *)c + k->offset; }
static const void *cfield(const rlvr_config *c, const cfg_key *k) {
    return (const char *)c + k->offset;
}

static void strlist_clear(cfg_strlist *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

const cfg_key *cfg_find(const char *path) {
    for (int i = 0; i < cfg_schema_len; i++)
        if (strcmp(cfg_schema[i].path, path) == 0) return &cfg_schema[i];
    return NULL;
}

static int edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > 128 || m > 128) return 1 << 20;
    int row[129];
    for (size_t j = 0; j <= m; j++) row[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[m];
}

/* Error for an unknown key, with the closest known key (or its last component) as a hint. */
static int unknown_key(const char *where, const char *path) {
    const char *best = NULL;
    int best_d = 1 << 20;
    const char *leaf = strrchr(path, '.');
    leaf = leaf ? leaf + 1 : path;
    for (int i = 0; i < cfg_schema_len; i++) {
        const char *p = cfg_schema[i].path, *pl = strrchr(p, '.');
        int d = edit_distance(path, p);
        int dl = edit_distance(leaf, pl ? pl + 1 : p) + 1; /* right leaf, wrong section */
        if (dl < d) d = dl;
        if (d < best_d) best_d = d, best = p;
    }
    size_t len = strlen(path);
    if (best && best_d <= 3 + (int)(len / 6))
        return err_set("%sunknown key '%s' (did you mean '%s'?)", where, path, best);
    return err_set("%sunknown key '%s' (`rlvr config keys` lists every key)", where, path);
}

typedef struct range {
    int has;
    double lo, hi;
    int lo_open, hi_open;
} range;

static int parse_bound(const char *s, double *v) {
    if (strcmp(s, "inf") == 0) return *v = INFINITY, 0;
    if (strcmp(s, "-inf") == 0) return *v = -INFINITY, 0;
    char *end;
    *v = strtod(s, &end);
    return *end == '\0' ? 0 : -1;
}

static int range_parse(const cfg_key *k, range *r) {
    memset(r, 0, sizeof *r);
    if (!k->range) return 0;
    char lo[64], hi[64], open, close;
    if (sscanf(k->range, "%c%63[^,],%63[^])]%c", &open, lo, hi, &close) != 4 ||
        (open != '[' && open != '(') || (close != ']' && close != ')') ||
        parse_bound(lo, &r->lo) || parse_bound(hi, &r->hi))
        return err_set("config schema: bad range '%s' for key '%s'", k->range, k->path);
    r->has = 1;
    r->lo_open = open == '(';
    r->hi_open = close == ')';
    return 0;
}

static int range_check(const cfg_key *k, double v, const char *where, const char *text) {
    range r;
    if (range_parse(k, &r)) return -1;
    if (!r.has) return 0;
    int ok = (r.lo_open ? v > r.lo : v >= r.lo) && (r.hi_open ? v < r.hi : v <= r.hi);
    if (!ok)
        return err_set("%s%s: expected %s in %s, got %s", where, k->path,
                       k->type == CFG_INT ? "an integer" : "a number", k->range, text);
    return 0;
}

static int enum_index(const cfg_key *k, const char *name) {
    const char *p = k->choices;
    size_t n = strlen(name);
    for (int i = 0; p && *p; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return i;
        if (!bar) break;
        p = bar + 1;
    }
    return -1;
}

static void enum_name_at(const cfg_key *k, int idx, char *out, size_t cap) {
    const char *p = k->choices;
    for (int i = 0; i < idx && p; i++) {
        p = strchr(p, '|');
        if (p) p++;
    }
    out[0] = '\0';
    if (!p) return;
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len >= cap) len = cap - 1;
    memcpy(out, p, len);
    out[len] = '\0';
}

static const char *type_name(cfg_type t) {
    switch (t) {
    case CFG_BOOL: return "bool";
    case CFG_INT: return "int";
    case CFG_FLOAT: return "float";
    case CFG_STRING: return "string";
    case CFG_ENUM: return "enum";
    case CFG_STRLIST: return "list of strings";
    }
    return "?";
}

/* ---- setting one value, from text (defaults, --set) or from JSON (files) ---- */

static int set_strlist_json(cfg_strlist *l, const cJSON *arr, const cfg_key *k, const char *where) {
    int n = cJSON_GetArraySize(arr);
    char **v = mem_calloc((size_t)n, sizeof *v);
    int i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        if (!cJSON_IsString(it)) {
            for (int j = 0; j < i; j++) free(v[j]);
            free(v);
            return err_set("%s%s: expected a list of strings, element %d is %s", where, k->path, i,
                           io_json_kind(it));
        }
        v[i] = mem_strdup(it->valuestring);
    }
    strlist_clear(l);
    l->n = n;
    l->v = v;
    return 0;
}

static int set_text(rlvr_config *c, const cfg_key *k, const char *text, const char *where) {
    void *f = field(c, k);
    char *end;
    switch (k->type) {
    case CFG_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "1")) *(int *)f = 1;
        else if (!strcmp(text, "false") || !strcmp(text, "0")) *(int *)f = 0;
        else return err_set("%s%s: expected true or false, got '%s'", where, k->path, text);
        return 0;
    case CFG_INT: {
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (*text == '\0' || *end != '\0' || errno == ERANGE)
            return err_set("%s%s: expected an integer%s%s, got '%s'", where, k->path,
                           k->range ? " in " : "", k->range ? k->range : "", text);
        if (range_check(k, (double)v, where, text)) return -1;
        *(int64_t *)f = (int64_t)v;
        return 0;
    }
    case CFG_FLOAT: {
        double v = strtod(text, &end);
        if (*text == '\0' || *end != '\0' || !isfinite(v))
            return err_set("%s%s: expected a finite number%s%s, got '%s'", where, k->path,
                           k->range ? " in " : "", k->range ? k->range : "", text);
        if (range_check(k, v, where, text)) return -1;
        *(double *)f = v;
        return 0;
    }
    case CFG_STRING: {
        char *s = mem_strdup(text);
        free(*(char **)f);
        *(char **)f = s;
        return 0;
    }
    case CFG_ENUM: {
        int i = enum_index(k, text);
        if (i < 0)
            return err_set("%s%s: expected one of %s, got '%s'", where, k->path, k->choices, text);
        *(int *)f = i;
        return 0;
    }
    case CFG_STRLIST: {
        if (text[0] != '[') { /* a bare word is a one-element list */
            cJSON *arr = cJSON_CreateArray();
            if (text[0]) cJSON_AddItemToArray(arr, cJSON_CreateString(text));
            int rc = set_strlist_json(f, arr, k, where);
            cJSON_Delete(arr);
            return rc;
        }
        cJSON *arr = cJSON_Parse(text);
        if (!arr || !cJSON_IsArray(arr)) {
            cJSON_Delete(arr);
            return err_set("%s%s: expected a JSON array of strings, got '%s'", where, k->path, text);
        }
        int rc = set_strlist_json(f, arr, k, where);
        cJSON_Delete(arr);
        return rc;
    }
    }
    return err_set("config schema: bad type for '%s'", k->path);
}

static int set_json(rlvr_config *c, const cfg_key *k, const cJSON *v, const char *where) {
    char buf[64];
    switch (k->type) {
    case CFG_BOOL:
        if (!cJSON_IsBool(v))
            return err_set("%s%s: expected true or false, got %s", where, k->path, io_json_kind(v));
        *(int *)field(c, k) = cJSON_IsTrue(v);
        return 0;
    case CFG_INT:
        if (!cJSON_IsNumber(v))
            return err_set("%s%s: expected an integer%s%s, got %s", where, k->path,
                           k->range ? " in " : "", k->range ? k->range : "", io_json_kind(v));
        if (v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 9007199254740992.0)
            return err_set("%s%s: expected an integer%s%s, got %.15g", where, k->path,
                           k->range ? " in " : "", k->range ? k->range : "", v->valuedouble);
        snprintf(buf, sizeof buf, "%.0f", v->valuedouble);
        return set_text(c, k, buf, where);
    case CFG_FLOAT:
        if (!cJSON_IsNumber(v))
            return err_set("%s%s: expected a number%s%s, got %s", where, k->path,
                           k->range ? " in " : "", k->range ? k->range : "", io_json_kind(v));
        snprintf(buf, sizeof buf, "%.17g", v->valuedouble);
        return set_text(c, k, buf, where);
    case CFG_STRING:
    case CFG_ENUM:
        if (!cJSON_IsString(v))
            return err_set("%s%s: expected %s, got %s", where, k->path,
                           k->type == CFG_ENUM ? k->choices : "a string", io_json_kind(v));
        return set_text(c, k, v->valuestring, where);
    case CFG_STRLIST:
        if (cJSON_IsString(v)) { /* a single string is a one-element list */
            cJSON *arr = cJSON_CreateArray();
            cJSON_AddItemToArray(arr, cJSON_CreateString(v->valuestring));
            int rc = set_strlist_json(field(c, k), arr, k, where);
            cJSON_Delete(arr);
            return rc;
        }
        if (!cJSON_IsArray(v))
            return err_set("%s%s: expected a list of strings, got %s", where, k->path, io_json_kind(v));
        return set_strlist_json(field(c, k), v, k, where);
    }
    return err_set("config schema: bad type for '%s'", k->path);
}

/* ---- public ---- */

int cfg_init(rlvr_config *c) {
    memset(c, 0, sizeof *c);
    if (cfg_schema_len > CFG_MAX_KEYS)
        return err_set("config schema: %d keys, more than CFG_MAX_KEYS (%d)", cfg_schema_len, CFG_MAX_KEYS);
    for (int i = 0; i < cfg_schema_len; i++) {
        const cfg_key *k = &cfg_schema[i];
        if (k->def && set_text(c, k, k->def, "config schema default: ")) return -1;
    }
    return 0;
}

void cfg_free(rlvr_config *c) {
    if (!c) return;
    for (int i = 0; i < cfg_schema_len; i++) {
        const cfg_key *k = &cfg_schema[i];
        if (k->type == CFG_STRING) {
            free(*(char **)field(c, k));
            *(char **)field(c, k) = NULL;
        } else if (k->type == CFG_STRLIST) {
            strlist_clear(field(c, k));
        }
    }
}

/* Walk a JSON object, applying each leaf; `prefix` is the dotted path so far. */
static int apply_object(rlvr_config *c, const cJSON *obj, const char *prefix, const char *where) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        for (const cJSON *dup = obj->child; dup != it; dup = dup->next)
            if (strcmp(dup->string, it->string) == 0)
                return err_set("%skey '%s%s%s' appears twice", where, prefix, *prefix ? "." : "",
                               it->string);
        char path[256];
        if (snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", it->string) >=
            (int)sizeof path)
            return err_set("%skey path too long: '%s...'", where, prefix);
        const cfg_key *k = cfg_find(path);
        if (k) {
            if (set_json(c, k, it, where)) return -1;
            c->given[k - cfg_schema] = 1;
        } else if (cJSON_IsObject(it)) {
            size_t n = strlen(path);
            int is_section = 0;
            for (int i = 0; i < cfg_schema_len && !is_section; i++)
                is_section = strncmp(cfg_schema[i].path, path, n) == 0 && cfg_schema[i].path[n] == '.';
            if (!is_section) return unknown_key(where, path);
            if (apply_object(c, it, path, where)) return -1;
        } else {
            return unknown_key(where, path);
        }
    }
    return 0;
}

static void line_col(const char *buf, const char *at, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (const char *p = buf; p < at && *p; p++) {
        if (*p == '\n') (*line)++, *col = 1;
        else (*col)++;
    }
}

int cfg_load_file(rlvr_config *c, const char *path) {
    size_t n;
    char *buf = io_read_file(path, 4 << 20, &n);
    if (!buf) return err_prefix("cannot read config file");
    if (strlen(buf) != n) {
        free(buf);
        return err_set("%s: not a text file (contains a NUL byte)", path);
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(buf, &end, 1);
    if (!root) {
        int line, col;
        line_col(buf, end ? end : cJSON_GetErrorPtr(), &line, &col);
        free(buf);
        return err_set("%s:%d:%d: malformed JSON", path, line, col);
    }
    free(buf);
    char where[1100];
    snprintf(where, sizeof where, "%s: ", path);
    int rc;
    if (!cJSON_IsObject(root))
        rc = err_set("%s: expected a JSON object at the top level, got %s", path, io_json_kind(root));
    else
        rc = apply_object(c, root, "", where);
    cJSON_Delete(root);
    return rc;
}

int cfg_set(rlvr_config *c, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return err_set("--set '%s': expected key=value, e.g. --set run.seed=7", assignment);
    char path[256];
    size_t n = (size_t)(eq - assignment);
    if (n >= sizeof path) return err_set("--set: key too long");
    memcpy(path, assignment, n);
    path[n] = '\0';
    const cfg_key *k = cfg_find(path);
    if (!k) return unknown_key("--set: ", path);
    if (set_text(c, k, eq + 1, "--set ")) return -1;
    c->given[k - cfg_schema] = 1;
    return 0;
}

int cfg_given(const rlvr_config *c, const char *path) {
    const cfg_key *k = cfg_find(path);
    return c && k && c->given[k - cfg_schema];
}

const char *cfg_enum_name(const rlvr_config *c, const char *path) {
    static _Thread_local char name[64];
    const cfg_key *k = cfg_find(path);
    if (!k || k->type != CFG_ENUM) return NULL;
    enum_name_at(k, *(const int *)cfield(c, k), name, sizeof name);
    return name;
}

int cfg_choice_of(const char *path, int stored, const cfg_choice *table, int *value) {
    const cfg_key *k = cfg_find(path);
    if (!k || k->type != CFG_ENUM || !table || !value)
        return err_set("cfg_choice_of: %s is not an enum key, or a NULL argument", path);
    char name[64];
    enum_name_at(k, stored, name, sizeof name);
    for (const cfg_choice *t = table; t->name; t++) {
        if (!strcmp(t->name, name)) {
            *value = t->value;
            return 0;
        }
    }
    return err_set("%s: the choice '%s' is not known to the module that reads it", path, name);
}

int cfg_choice_value(const rlvr_config *c, const char *path, const cfg_choice *table, int *value) {
    const cfg_key *k = cfg_find(path);
    if (!c || !k || k->type != CFG_ENUM) return err_set("cfg_choice_value: %s is not an enum key, or no config", path);
    return cfg_choice_of(path, *(const int *)cfield(c, k), table, value);
}

int cfg_choices_check(const char *path, const cfg_choice *table) {
    const cfg_key *k = cfg_find(path);
    if (!k || k->type != CFG_ENUM || !table) return err_set("cfg_choices_check: %s is not an enum key", path);
    for (const cfg_choice *t = table; t->name; t++) {
        if (enum_index(k, t->name) < 0)
            return err_set("%s: the module binds '%s', which is not a choice (%s)", path, t->name, k->choices);
        for (const cfg_choice *u = table; u < t; u++)
            if (!strcmp(u->name, t->name)) return err_set("%s: the module binds '%s' twice", path, t->name);
    }
    char name[64];
    for (int i = 0;; i++) {
        enum_name_at(k, i, name, sizeof name);
        if (!name[0]) break;
        int found = 0;
        for (const cfg_choice *t = table; t->name && !found; t++) found = !strcmp(t->name, name);
        if (!found) return err_set("%s: the choice '%s' has no value in the module's table", path, name);
    }
    return 0;
}

/* The object at dotted `path`'s parent inside root, created on demand. */
static cJSON *parent_object(cJSON *root, const char *path, const char **leaf) {
    cJSON *cur = root;
    const char *p = path;
    for (const char *dot; (dot = strchr(p, '.')); p = dot + 1) {
        char name[128];
        size_t n = (size_t)(dot - p);
        if (n >= sizeof name) n = sizeof name - 1;
        memcpy(name, p, n);
        name[n] = '\0';
        cJSON *next = cJSON_GetObjectItemCaseSensitive(cur, name);
        if (!next) next = cJSON_AddObjectToObject(cur, name);
        cur = next;
    }
    *leaf = p;
    return cur;
}

char *cfg_to_json(const rlvr_config *c) {
    cJSON *root = cJSON_CreateObject();
    for (int i = 0; i < cfg_schema_len; i++) {
        const cfg_key *k = &cfg_schema[i];
        const void *f = cfield(c, k);
        const char *leaf;
        cJSON *obj = parent_object(root, k->path, &leaf), *v = NULL;
        char name[64];
        switch (k->type) {
        case CFG_BOOL: v = cJSON_CreateBool(*(const int *)f); break;
        case CFG_INT: v = cJSON_CreateNumber((double)*(const int64_t *)f); break;
        case CFG_FLOAT: v = cJSON_CreateNumber(*(const double *)f); break;
        case CFG_STRING: {
            const char *s = *(char *const *)f;
            v = cJSON_CreateString(s ? s : "");
            break;
        }
        case CFG_ENUM:
            enum_name_at(k, *(const int *)f, name, sizeof name);
            v = cJSON_CreateString(name);
            break;
        case CFG_STRLIST: {
            const cfg_strlist *l = f;
            v = cJSON_CreateArray();
            for (int j = 0; j < l->n; j++) cJSON_AddItemToArray(v, cJSON_CreateString(l->v[j]));
            break;
        }
        }
        cJSON_AddItemToObject(obj, leaf, v);
    }
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    return out;
}

void cfg_write_markdown(FILE *out) {
    fputs("# Configuration reference\n\n"
          "Generated by `rlvr config doc` from the schema table in `common/cfg_schema.c`; do not "
          "edit by hand.\n\n"
          "A config file is a JSON object whose nested objects follow the dotted key paths below "
          "(`{\"run\": {\"seed\": 7}}` sets `run.seed`). Any key can be overridden on the command "
          "line with `--set key=value`; lists take a JSON array (`--set k='[\"a\",\"b\"]'`). "
          "Unknown keys, wrong types and out-of-range values are errors.\n",
          out);
    const char *section = "";
    size_t section_len = 0;
    for (int i = 0; i < cfg_schema_len; i++) {
        const cfg_key *k = &cfg_schema[i];
        const char *dot = strchr(k->path, '.');
        size_t n = dot ? (size_t)(dot - k->path) : 0;
        if (n != section_len || strncmp(section, k->path, n) != 0) {
            section = k->path;
            section_len = n;
            fprintf(out, "\n## %.*s\n\n| key | type | default | allowed | description |\n"
                         "|---|---|---|---|---|\n", (int)n, k->path);
        }
        const char *allowed = k->type == CFG_ENUM ? k->choices : k->range ? k->range : "";
        fprintf(out, "| `%s` | %s | `%s` | ", k->path, type_name(k->type), k->def ? k->def : "");
        for (const char *p = allowed; *p; p++) fputs(*p == '|' ? ", " : (char[]){*p, 0}, out);
        fputs(" | ", out);
        for (const char *p = k->help; *p; p++) fputs(*p == '|' ? "\\|" : (char[]){*p, 0}, out);
        fputs(" |\n", out);
    }
}
