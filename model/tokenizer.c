/* tokenizer — loading tokenizer.json / tokenizer_config.json, encoding, decoding, and writing a
 * small trained byte-level BPE. See tokenizer.h for the pipeline and what is out of scope.
 *
 * Internally the BPE works on raw bytes: every vocabulary string is mapped back from the GPT-2
 * byte-to-unicode alphabet once at load, so a pre-token is merged without re-encoding it. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"

#include "common/err.h"
#include "common/io.h"
#include "common/mem.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>
#include <zlib.h>

#define TOK_MAX_FILE (512u << 20) /* bytes of (uncompressed) tokenizer.json we agree to read */
#define TOK_MAX_ID 0x7fffffff
#define CACHE_MAX_KEY 96          /* pre-tokens longer than this are not cached */
#define CACHE_SLOTS (1 << 17)
#define CACHE_MAX_ENTRIES (1 << 16)

/* The GPT-2 / Llama-3 / Qwen2 pre-tokenizer regexes. */
static const char GPT2_REGEX[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char QWEN2_REGEX[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                                  "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char LLAMA3_REGEX[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                                   "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

typedef struct added_tok {
    char *content;
    size_t len;
    int32_t id;
    int special, lstrip, rstrip, normalized, single_word;
} added_tok;

enum { STEP_SPLIT, STEP_BYTELEVEL };
enum { SPLIT_ISOLATED, SPLIT_REMOVED };

typedef struct pre_step {
    int kind;
    pcre2_code *re;         /* Split pattern, or the GPT-2 regex for ByteLevel use_regex */
    int behavior, invert;   /* Split */
    int add_prefix_space;   /* ByteLevel */
} pre_step;

typedef struct span {
    size_t off, len;
} span;

typedef struct cache_entry {
    uint64_t hash;
    uint32_t key_off, key_len, ids_off, nids;
} cache_entry;

typedef struct bpe_sym {
    int32_t id;
    int prev, next;
} bpe_sym;

typedef struct bpe_cand {
    int32_t rank;
    int pos;
} bpe_cand;

struct tok_tokenizer {
    char *label;
    int32_t nids;             /* one past the largest id */
    char **str;               /* [nids] tokenizer.json strings, NULL for unused ids */
    uint8_t **raw;            /* [nids] decoded bytes */
    uint32_t *raw_len;
    uint8_t *special;         /* [nids] 1 for special added tokens */
    int32_t *vocab_slots;     /* raw bytes -> model vocabulary id; -1 empty */
    uint32_t vocab_mask;
    uint64_t *merge_keys;     /* (left id << 32 | right id), UINT64_MAX empty */
    int32_t *merge_rank, *merge_id;
    uint32_t merge_mask;
    int32_t byte_id[256];
    int ignore_merges;
    added_tok *added;
    int nadded;
    int has_normalized_added;
    uint8_t added_first[2][256]; /* [normalized][byte]: some added token starts with it */
    int nfc;
    pre_step *steps;
    int nsteps;
    int32_t prefix[4], suffix[4]; /* post_processor ids around a single sequence */
    int nprefix, nsuffix;
    int32_t bos, eos, pad;
    char *chat_template;
    int cleanup_spaces;
    pcre2_match_data *md;
    /* scratch, reused across calls */
    uint8_t *work;
    size_t work_len, work_cap;
    span *spans[2];
    int nspans[2], spans_cap[2];
    bpe_sym *syms;
    bpe_cand *heap;
    int syms_cap, heap_cap;
    /* pre-token -> ids cache */
    int32_t *cache_slots;
    cache_entry *cache;
    int ncache;
    uint8_t *cache_keys;
    int32_t *cache_ids;
    size_t cache_keys_len, cache_keys_cap, cache_ids_len, cache_ids_cap;
};

/* ---- small utilities ---- */

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, p, n);
    h = (h ^ v) * 0x94d049bb133111ebull;
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static void grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return;
    int nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    *p = mem_realloc(*p, (size_t)nc * elem);
    *cap = nc;
}

static void grow_bytes(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return;
    size_t nc = *cap ? *cap : 4096;
    while (nc < need) nc *= 2;
    *p = mem_realloc(*p, nc * elem);
    *cap = nc;
}

void tok_ids_free(tok_ids *ids) {
    if (!ids) return;
    free(ids->v);
    *ids = (tok_ids){0};
}

void tok_ids_push(tok_ids *ids, int32_t id) {
    grow((void **)&ids->v, &ids->cap, ids->n + 1, sizeof *ids->v);
    ids->v[ids->n++] = id;
}

/* The sequence length a UTF-8 lead byte announces (0 for a byte that cannot lead) and the range
 * its second byte must fall in (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF). */
static int utf8_lead(uint8_t c, uint8_t *lo, uint8_t *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0) *lo = 0xA0;
        if (c == 0xED) *hi = 0x9F;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0) *lo = 0x90;
        if (c == 0xF4) *hi = 0x8F;
        return 4;
    }
    return 0;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when ill-formed there. */
static int utf8_seq_len(const uint8_t *s, size_t n) {
    uint8_t lo, hi;
    int len = utf8_lead(s[0], &lo, &hi);
    if (len <= 1) return len;
    if ((size_t)len > n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

/* Bytes consumed by from_utf8_lossy's one U+FFFD at an ill-formed position: the lead byte plus
 * the continuation bytes that were still valid (the "maximal subpart"). */
static int utf8_bad_len(const uint8_t *s, size_t n) {
    uint8_t lo, hi;
    int len = utf8_lead(s[0], &lo, &hi), k = 1;
    if (len <= 1) return 1;
    if (k < (int)n && k < len && s[1] >= lo && s[1] <= hi) {
        k++;
        while (k < (int)n && k < len && s[k] >= 0x80 && s[k] <= 0xBF) k++;
    }
    return k;
}

/* Offset of the first ill-formed byte, or -1 when s is valid UTF-8. */
static long utf8_invalid_at(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int l = utf8_seq_len(s + i, n - i);
        if (!l) return (long)i;
        i += (size_t)l;
    }
    return -1;
}

/* Decode one code point of valid UTF-8 at s; *len gets its byte length. */
static int32_t utf8_cp(const uint8_t *s, int *len) {
    if (s[0] < 0x80) {
        *len = 1;
        return s[0];
    }
    if (s[0] < 0xE0) {
        *len = 2;
        return ((s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (s[0] < 0xF0) {
        *len = 3;
        return ((s[0] & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    *len = 4;
    return ((s[0] & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

static int utf8_put(uint8_t *o, int32_t cp) {
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Unicode White_Space (Rust's char::is_whitespace). */
static int is_unicode_space(int32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* Regex \w in Unicode mode: letters, marks, decimal digits, connector punctuation. */
static int is_word_char(int32_t c) {
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return c == 0x200C || c == 0x200D;
    }
}

/* ---- the byte-level alphabet (GPT-2's bytes_to_unicode) ---- */

static int32_t byte_to_cp[256];
static int16_t cp_to_byte[324];

static void byte_level_init(void) {
    if (byte_to_cp['!']) return;
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        byte_to_cp[b] = printable ? b : 256 + n++;
    }
    for (int i = 0; i < 324; i++) cp_to_byte[i] = -1;
    for (int b = 0; b < 256; b++) cp_to_byte[byte_to_cp[b]] = (int16_t)b;
}

/* Map a byte-level string to raw bytes (out has room for strlen(s)); -1 when a character is
 * outside the alphabet. */
static long byte_level_decode(const char *s, size_t n, uint8_t *out) {
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        int l = utf8_seq_len(p + i, n - i);
        if (!l) return -1;
        int32_t cp = utf8_cp(p + i, &l);
        if (cp >= 324 || cp_to_byte[cp] < 0) return -1;
        out[o++] = (uint8_t)cp_to_byte[cp];
        i += (size_t)l;
    }
    return (long)o;
}

/* Raw bytes to a new byte-level string. */
static char *byte_level_encode(const uint8_t *p, size_t n) {
    char *s = mem_alloc(2 * n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) o += (size_t)utf8_put((uint8_t *)s + o, byte_to_cp[p[i]]);
    s[o] = '\0';
    return s;
}

/* ---- vocabulary and merge tables ---- */

static int32_t vocab_find(const tok_tokenizer *t, const uint8_t *p, size_t n) {
    uint32_t i = (uint32_t)hash_bytes(p, n) & t->vocab_mask;
    for (;; i = (i + 1) & t->vocab_mask) {
        int32_t id = t->vocab_slots[i];
        if (id < 0) return -1;
        if (t->raw_len[id] == n && !memcmp(t->raw[id], p, n)) return id;
    }
}

static void vocab_insert(tok_tokenizer *t, int32_t id) {
    uint32_t i = (uint32_t)hash_bytes(t->raw[id], t->raw_len[id]) & t->vocab_mask;
    while (t->vocab_slots[i] >= 0) i = (i + 1) & t->vocab_mask;
    t->vocab_slots[i] = id;
}

static int merge_find(const tok_tokenizer *t, int32_t a, int32_t b, int32_t *rank, int32_t *id) {
    if (!t->merge_keys) return 0;
    uint64_t k = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (uint32_t i = (uint32_t)hash_u64(k) & t->merge_mask;; i = (i + 1) & t->merge_mask) {
        if (t->merge_keys[i] == UINT64_MAX) return 0;
        if (t->merge_keys[i] == k) {
            *rank = t->merge_rank[i];
            *id = t->merge_id[i];
            return 1;
        }
    }
}

static void merge_insert(tok_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t id) {
    uint64_t k = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t i = (uint32_t)hash_u64(k) & t->merge_mask;
    while (t->merge_keys[i] != UINT64_MAX && t->merge_keys[i] != k) i = (i + 1) & t->merge_mask;
    t->merge_keys[i] = k; /* a repeated pair keeps its last rank, as the reference does */
    t->merge_rank[i] = rank;
    t->merge_id[i] = id;
}

static uint32_t pow2_at_least(size_t n) {
    uint32_t c = 16;
    while (c < 2 * n) c <<= 1;
    return c;
}

/* ---- loading ---- */

static const char *json_str_or_content(const cJSON *j) {
    if (cJSON_IsString(j)) return j->valuestring;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "content");
    return cJSON_IsObject(j) && cJSON_IsString(c) ? c->valuestring : NULL;
}

static int json_flag(const cJSON *obj, const char *key) {
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

static int json_id(const cJSON *j, int32_t *out) {
    if (!cJSON_IsNumber(j) || j->valuedouble < 0 || j->valuedouble > TOK_MAX_ID ||
        j->valuedouble != (double)(int32_t)j->valuedouble)
        return -1;
    *out = (int32_t)j->valuedouble;
    return 0;
}

static int set_token(tok_tokenizer *t, int32_t id, const char *s, const char *what) {
    if (t->str[id]) return err_set("%s: id %d is used twice (%s \"%s\" and \"%s\")", t->label, id, what, t->str[id], s);
    size_t n = strlen(s);
    t->str[id] = mem_strdup(s);
    t->raw[id] = mem_alloc(n + 1);
    long r = byte_level_decode(s, n, t->raw[id]);
    if (r < 0) { /* outside the byte-level alphabet: decodes to its own UTF-8, as the reference */
        memcpy(t->raw[id], s, n);
        r = (long)n;
    }
    t->raw_len[id] = (uint32_t)r;
    return 0;
}

/* PCRE2 allocates its compiled patterns and match data through the checked allocator. */
static void *pcre_alloc(PCRE2_SIZE size, void *data) {
    (void)data;
    return mem_alloc(size);
}

static void pcre_release(void *p, void *data) {
    (void)data;
    free(p);
}

static pcre2_match_data *match_data_create(uint32_t pairs) {
    pcre2_general_context *g = pcre2_general_context_create(pcre_alloc, pcre_release, NULL);
    pcre2_match_data *md = pcre2_match_data_create(pairs, g);
    pcre2_general_context_free(g);
    return md;
}

static pcre2_code *compile_regex(const char *pattern, size_t len, uint32_t extra, const char *label) {
    int code;
    PCRE2_SIZE off;
    pcre2_general_context *g = pcre2_general_context_create(pcre_alloc, pcre_release, NULL);
    pcre2_compile_context *cc = pcre2_compile_context_create(g);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_UCP | extra, &code, &off, cc);
    pcre2_compile_context_free(cc);
    pcre2_general_context_free(g);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        err_set("%s: pre_tokenizer regex does not compile at offset %zu: %s", label, (size_t)off, (char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* the interpreter serves when JIT is unavailable */
    return re;
}

static void add_step(tok_tokenizer *t, pre_step s) {
    t->steps = mem_realloc(t->steps, (size_t)(t->nsteps + 1) * sizeof *t->steps);
    t->steps[t->nsteps++] = s;
}

static int parse_pre_tokenizer(tok_tokenizer *t, const cJSON *p) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    if (!cJSON_IsString(type)) return err_set("%s: pre_tokenizer has no \"type\"", t->label);
    const char *ty = type->valuestring;
    if (!strcmp(ty, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(list)) return err_set("%s: pre_tokenizer Sequence has no \"pretokenizers\" list", t->label);
        for (const cJSON *e = list->child; e; e = e->next)
            if (parse_pre_tokenizer(t, e)) return -1;
        return 0;
    }
    pre_step s = {0};
    if (!strcmp(ty, "Split")) {
        s.kind = STEP_SPLIT;
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const cJSON *rx = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        const cJSON *lit = cJSON_GetObjectItemCaseSensitive(pat, "String");
        const cJSON *beh = cJSON_GetObjectItemCaseSensitive(p, "behavior");
        if (!cJSON_IsString(beh)) return err_set("%s: pre_tokenizer Split has no \"behavior\"", t->label);
        if (!strcmp(beh->valuestring, "Isolated")) s.behavior = SPLIT_ISOLATED;
        else if (!strcmp(beh->valuestring, "Removed")) s.behavior = SPLIT_REMOVED;
        else return err_set("%s: pre_tokenizer Split behavior \"%s\" is not supported (Isolated, Removed)", t->label, beh->valuestring);
        s.invert = json_flag(p, "invert");
        if (cJSON_IsString(rx)) s.re = compile_regex(rx->valuestring, strlen(rx->valuestring), 0, t->label);
        else if (cJSON_IsString(lit) && lit->valuestring[0])
            s.re = compile_regex(lit->valuestring, strlen(lit->valuestring), PCRE2_LITERAL, t->label);
        else return err_set("%s: pre_tokenizer Split needs a \"pattern\" {\"Regex\": ...} or {\"String\": ...}", t->label);
        if (!s.re) return -1;
        add_step(t, s);
        return 0;
    }
    if (!strcmp(ty, "ByteLevel")) {
        s.kind = STEP_BYTELEVEL;
        s.add_prefix_space = json_flag(p, "add_prefix_space");
        const cJSON *ur = cJSON_GetObjectItemCaseSensitive(p, "use_regex");
        if (!ur || cJSON_IsTrue(ur)) { /* the field defaults to true */
            s.re = compile_regex(GPT2_REGEX, sizeof GPT2_REGEX - 1, 0, t->label);
            if (!s.re) return -1;
        }
        add_step(t, s);
        return 0;
    }
    return err_set("%s: pre_tokenizer type \"%s\" is not supported (byte-level BPE needs Split and ByteLevel)", t->label, ty);
}

static int parse_normalizer(tok_tokenizer *t, const cJSON *n) {
    if (!n || cJSON_IsNull(n)) return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(n, "type");
    if (!cJSON_IsString(type)) return err_set("%s: normalizer has no \"type\"", t->label);
    if (!strcmp(type->valuestring, "NFC")) {
        t->nfc = 1;
        return 0;
    }
    if (!strcmp(type->valuestring, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (!cJSON_IsArray(list)) return err_set("%s: normalizer Sequence has no \"normalizers\" list", t->label);
        for (const cJSON *e = list->child; e; e = e->next)
            if (parse_normalizer(t, e)) return -1;
        return 0;
    }
    return err_set("%s: normalizer \"%s\" is not supported (NFC only)", t->label, type->valuestring);
}

/* TemplateProcessing's "single" list: special tokens before and after the sequence $A. */
static int parse_post_processor(tok_tokenizer *t, const cJSON *p) {
    if (!p || cJSON_IsNull(p)) return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    const char *ty = cJSON_IsString(type) ? type->valuestring : "";
    if (!strcmp(ty, "ByteLevel")) return 0; /* offsets only */
    if (!strcmp(ty, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "processors");
        for (const cJSON *e = cJSON_IsArray(list) ? list->child : NULL; e; e = e->next)
            if (parse_post_processor(t, e)) return -1;
        return 0;
    }
    if (strcmp(ty, "TemplateProcessing"))
        return err_set("%s: post_processor \"%s\" is not supported (ByteLevel, TemplateProcessing)", t->label, ty);
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(p, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(p, "special_tokens");
    int after = 0;
    for (const cJSON *e = cJSON_IsArray(single) ? single->child : NULL; e; e = e->next) {
        if (cJSON_GetObjectItemCaseSensitive(e, "Sequence")) {
            after = 1;
            continue;
        }
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "SpecialToken");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(st, "id");
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(specials, cJSON_IsString(name) ? name->valuestring : ""), "ids");
        if (!cJSON_IsString(name) || !cJSON_IsArray(ids))
            return err_set("%s: post_processor TemplateProcessing: a special token of \"single\" is not in \"special_tokens\"", t->label);
        for (const cJSON *i = ids->child; i; i = i->next) {
            int32_t id;
            int *cnt = after ? &t->nsuffix : &t->nprefix;
            if (json_id(i, &id) || *cnt >= 4)
                return err_set("%s: post_processor TemplateProcessing: bad ids for \"%s\"", t->label, name->valuestring);
            (after ? t->suffix : t->prefix)[(*cnt)++] = id;
        }
    }
    return 0;
}

static int parse_model(tok_tokenizer *t, const cJSON *m) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
    if (!cJSON_IsObject(m)) return err_set("%s: missing object \"model\"", t->label);
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE")))
        return err_set("%s: model type \"%s\" is not supported (only byte-level BPE)", t->label,
                       cJSON_IsString(type) ? type->valuestring : "?");
    if (json_flag(m, "byte_fallback"))
        return err_set("%s: model.byte_fallback is not supported (a SentencePiece-style BPE, not byte-level)", t->label);
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(m, "dropout");
    if (drop && !cJSON_IsNull(drop) && !(cJSON_IsNumber(drop) && drop->valuedouble == 0))
        return err_set("%s: model.dropout is not supported", t->label);
    const char *affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(m, affix[i]);
        if (a && !cJSON_IsNull(a) && !(cJSON_IsString(a) && !a->valuestring[0]))
            return err_set("%s: model.%s is not supported", t->label, affix[i]);
    }
    t->ignore_merges = json_flag(m, "ignore_merges");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(m, "vocab");
    if (!cJSON_IsObject(vocab)) return err_set("%s: model.vocab must be an object {token: id}", t->label);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int32_t id;
        if (json_id(e, &id)) return err_set("%s: model.vocab[\"%s\"] is not a valid id", t->label, e->string);
        if (id >= t->nids) t->nids = id + 1;
    }
    return 0;
}

static int build_vocab(tok_tokenizer *t, const cJSON *m) {
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(m, "vocab");
    int n = 0;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int32_t id = 0;
        json_id(e, &id);
        if (set_token(t, id, e->string, "model.vocab")) return -1;
        n++;
    }
    t->vocab_mask = pow2_at_least((size_t)n) - 1;
    t->vocab_slots = mem_alloc(((size_t)t->vocab_mask + 1) * sizeof *t->vocab_slots);
    memset(t->vocab_slots, 0xff, ((size_t)t->vocab_mask + 1) * sizeof *t->vocab_slots);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int32_t id = 0;
        json_id(e, &id);
        if (vocab_find(t, t->raw[id], t->raw_len[id]) < 0) vocab_insert(t, id);
    }
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        t->byte_id[b] = vocab_find(t, &c, 1);
        if (t->byte_id[b] < 0)
            return err_set("%s: model.vocab lacks the byte-level token for byte 0x%02x (not a byte-level BPE?)", t->label, b);
    }
    return 0;
}

/* One merge: "a b" or ["a", "b"]; looks the parts and their concatenation up. */
static int add_merge(tok_tokenizer *t, const cJSON *e, int32_t rank, uint8_t *buf) {
    const char *a, *b;
    char *tmp = NULL;
    if (cJSON_IsString(e)) {
        tmp = mem_strdup(e->valuestring);
        char *sp = strchr(tmp, ' ');
        if (!sp || strchr(sp + 1, ' ')) {
            free(tmp);
            return err_set("%s: model.merges[%d] \"%s\" is not two tokens separated by one space", t->label, rank, e->valuestring);
        }
        *sp = '\0';
        a = tmp;
        b = sp + 1;
    } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) && cJSON_IsString(e->child->next)) {
        a = e->child->valuestring;
        b = e->child->next->valuestring;
    } else {
        return err_set("%s: model.merges[%d] must be \"a b\" or [\"a\", \"b\"]", t->label, rank);
    }
    size_t la = strlen(a), lb = strlen(b);
    long ra = byte_level_decode(a, la, buf), rb = ra < 0 ? -1 : byte_level_decode(b, lb, buf + ra);
    int32_t ia = ra < 0 ? -1 : vocab_find(t, buf, (size_t)ra);
    int32_t ib = rb < 0 ? -1 : vocab_find(t, buf + ra, (size_t)rb);
    int32_t im = rb < 0 ? -1 : vocab_find(t, buf, (size_t)(ra + rb));
    int rc = 0;
    if (ia < 0 || ib < 0 || im < 0)
        rc = err_set("%s: model.merges[%d] (\"%s\", \"%s\"): %s is not in the vocabulary", t->label, rank, a, b,
                     ia < 0 ? "the first token" : ib < 0 ? "the second token" : "their concatenation");
    else merge_insert(t, ia, ib, rank, im);
    free(tmp);
    return rc;
}

static int build_merges(tok_tokenizer *t, const cJSON *m) {
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(m, "merges");
    if (!merges || cJSON_IsNull(merges)) return 0;
    if (!cJSON_IsArray(merges)) return err_set("%s: model.merges must be a list", t->label);
    int n = cJSON_GetArraySize(merges);
    size_t cap = pow2_at_least((size_t)n);
    t->merge_mask = (uint32_t)cap - 1;
    t->merge_keys = mem_alloc(cap * sizeof *t->merge_keys);
    t->merge_rank = mem_alloc(cap * sizeof *t->merge_rank);
    t->merge_id = mem_alloc(cap * sizeof *t->merge_id);
    size_t maxlen = 0;
    for (const cJSON *e = merges->child; e; e = e->next) {
        size_t l = cJSON_IsString(e) ? strlen(e->valuestring) : 0;
        if (cJSON_IsArray(e))
            for (const cJSON *s = e->child; s; s = s->next) l += cJSON_IsString(s) ? strlen(s->valuestring) : 0;
        if (l > maxlen) maxlen = l;
    }
    uint8_t *buf = mem_alloc(maxlen + 1);
    memset(t->merge_keys, 0xff, cap * sizeof *t->merge_keys);
    int32_t rank = 0;
    for (const cJSON *e = merges->child; e; e = e->next, rank++)
        if (add_merge(t, e, rank, buf)) {
            free(buf);
            return -1;
        }
    free(buf);
    return 0;
}

static int parse_added(tok_tokenizer *t, const cJSON *list) {
    if (!list || cJSON_IsNull(list)) return 0;
    if (!cJSON_IsArray(list)) return err_set("%s: added_tokens must be a list", t->label);
    int n = cJSON_GetArraySize(list);
    t->added = mem_calloc((size_t)n + 1, sizeof *t->added);
    for (const cJSON *e = list->child; e; e = e->next) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        int32_t id;
        if (!cJSON_IsString(c) || !c->valuestring[0] || json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), &id))
            return err_set("%s: added_tokens[%d] needs a non-empty \"content\" and an \"id\"", t->label, t->nadded);
        added_tok *a = &t->added[t->nadded++];
        a->content = mem_strdup(c->valuestring);
        a->len = strlen(a->content);
        a->id = id;
        a->special = json_flag(e, "special");
        a->lstrip = json_flag(e, "lstrip");
        a->rstrip = json_flag(e, "rstrip");
        a->single_word = json_flag(e, "single_word");
        const cJSON *norm = cJSON_GetObjectItemCaseSensitive(e, "normalized");
        a->normalized = norm ? cJSON_IsTrue(norm) : !a->special; /* the reference's default */
        t->has_normalized_added |= a->normalized;
        t->added_first[a->normalized][(uint8_t)a->content[0]] = 1;
        if (id >= t->nids) t->nids = id + 1;
    }
    return 0;
}

static int install_added(tok_tokenizer *t) {
    for (int i = 0; i < t->nadded; i++) {
        added_tok *a = &t->added[i];
        if (t->str[a->id]) { /* also in the model vocabulary: the added entry wins for decoding */
            free(t->str[a->id]);
            free(t->raw[a->id]);
            t->str[a->id] = NULL;
            t->raw[a->id] = NULL;
        }
        if (set_token(t, a->id, a->content, "added token")) return -1;
        t->special[a->id] = (uint8_t)a->special;
    }
    return 0;
}

static int32_t lookup_config_token(tok_tokenizer *t, const cJSON *cfg, const char *key, const char *label, int *rc) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!j || cJSON_IsNull(j)) return -1;
    const char *s = json_str_or_content(j);
    int32_t id = s ? tok_token_id(t, s) : -1;
    if (id < 0) *rc = err_set("%s: %s %s%s%s is not a token of the vocabulary", label, key, s ? "\"" : "(not a string)", s ? s : "", s ? "\"" : "");
    return id;
}

static int parse_config(tok_tokenizer *t, const char *text, size_t len, const char *label) {
    cJSON *cfg = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        return err_set("%s: not a well-formed JSON object", label);
    }
    int rc = 0;
    t->bos = lookup_config_token(t, cfg, "bos_token", label, &rc);
    t->eos = lookup_config_token(t, cfg, "eos_token", label, &rc);
    t->pad = lookup_config_token(t, cfg, "pad_token", label, &rc);
    t->cleanup_spaces = json_flag(cfg, "clean_up_tokenization_spaces");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    const char *tmpl = NULL;
    if (cJSON_IsString(ct)) tmpl = ct->valuestring;
    else if (cJSON_IsArray(ct)) /* [{"name": "default", "template": ...}, ...] */
        for (const cJSON *e = ct->child; e; e = e->next) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
            const cJSON *tp = cJSON_GetObjectItemCaseSensitive(e, "template");
            if (cJSON_IsString(nm) && !strcmp(nm->valuestring, "default") && cJSON_IsString(tp)) tmpl = tp->valuestring;
        }
    else if (ct && !cJSON_IsNull(ct)) rc = err_set("%s: chat_template must be a string", label);
    if (tmpl) t->chat_template = mem_strdup(tmpl);
    cJSON_Delete(cfg);
    return rc;
}

static tok_tokenizer *load(const char *json, size_t len, const char *config, size_t config_len, const char *label,
                           const char *config_label) {
    byte_level_init();
    tok_tokenizer *t = mem_calloc(1, sizeof *t);
    t->label = mem_strdup(label);
    t->bos = t->eos = t->pad = -1;
    cJSON *j = cJSON_ParseWithLength(json, len);
    int rc = -1;
    if (!cJSON_IsObject(j)) {
        err_set("%s: not a well-formed JSON object", label);
        goto out;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(j, "decoder");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(dec, "type");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(j, "pre_tokenizer");
    if (parse_model(t, model) || parse_added(t, cJSON_GetObjectItemCaseSensitive(j, "added_tokens")) ||
        parse_normalizer(t, cJSON_GetObjectItemCaseSensitive(j, "normalizer")) ||
        parse_post_processor(t, cJSON_GetObjectItemCaseSensitive(j, "post_processor")))
        goto out;
    if (!cJSON_IsObject(pre) || parse_pre_tokenizer(t, pre)) {
        if (!cJSON_IsObject(pre)) err_set("%s: missing \"pre_tokenizer\" (byte-level BPE needs ByteLevel)", label);
        goto out;
    }
    if (t->steps[t->nsteps - 1].kind != STEP_BYTELEVEL) {
        err_set("%s: the pre_tokenizer does not end with ByteLevel: not a byte-level BPE", label);
        goto out;
    }
    if (!cJSON_IsString(dtype) || strcmp(dtype->valuestring, "ByteLevel")) {
        err_set("%s: decoder \"%s\" is not supported (ByteLevel)", label, cJSON_IsString(dtype) ? dtype->valuestring : "missing");
        goto out;
    }
    t->str = mem_calloc((size_t)t->nids + 1, sizeof *t->str);
    t->raw = mem_calloc((size_t)t->nids + 1, sizeof *t->raw);
    t->raw_len = mem_calloc((size_t)t->nids + 1, sizeof *t->raw_len);
    t->special = mem_calloc((size_t)t->nids + 1, 1);
    t->md = match_data_create(16);
    if (build_vocab(t, model) || install_added(t) || build_merges(t, model)) goto out;
    for (int i = 0; i < t->nprefix + t->nsuffix; i++) {
        int32_t id = i < t->nprefix ? t->prefix[i] : t->suffix[i - t->nprefix];
        if (id >= t->nids || !t->str[id]) {
            err_set("%s: post_processor names id %d, which is not in the vocabulary", label, id);
            goto out;
        }
    }
    if (config && parse_config(t, config, config_len, config_label)) goto out;
    rc = 0;
out:
    cJSON_Delete(j);
    if (rc) {
        tok_free(t);
        return NULL;
    }
    return t;
}

tok_tokenizer *tok_load_mem(const char *json, size_t len, const char *config, size_t config_len, const char *label) {
    return load(json, len, config, config_len, label, "tokenizer_config.json");
}

/* Whole file into memory, through zlib so that .gz files and plain files both read. */
static char *read_file(const char *path, size_t *len) {
    gzFile g = gzopen(path, "rb");
    if (!g) {
        err_set("%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
        return NULL;
    }
    gzbuffer(g, 1 << 17);
    size_t n = 0, cap = 1 << 20;
    char *buf = mem_alloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap >= TOK_MAX_FILE) {
                err_set("%s: larger than the %u-byte limit", path, TOK_MAX_FILE);
                break;
            }
            buf = mem_realloc(buf, 2 * cap + 1);
            cap *= 2;
        }
        int r = gzread(g, buf + n, (unsigned)(cap - n));
        if (r < 0) {
            int e;
            err_set("%s: read error: %s", path, gzerror(g, &e));
            break;
        }
        if (r == 0) {
            gzclose(g);
            buf[n] = '\0';
            *len = n;
            return buf;
        }
        n += (size_t)r;
    }
    free(buf);
    gzclose(g);
    return NULL;
}

static int file_exists(const char *p) {
    struct stat s;
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

tok_tokenizer *tok_load(const char *path) {
    struct stat s;
    if (stat(path, &s)) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t n = strlen(path) + 40;
    char *json_path = mem_alloc(n), *cfg_path = mem_alloc(n);
    tok_tokenizer *t = NULL;
    char *json = NULL, *cfg = NULL;
    size_t jlen = 0, clen = 0;
    if (S_ISDIR(s.st_mode)) {
        snprintf(json_path, n, "%s/tokenizer.json", path);
        if (!file_exists(json_path)) snprintf(json_path, n, "%s/tokenizer.json.gz", path);
        if (!file_exists(json_path)) {
            err_set("%s: no tokenizer.json (nor tokenizer.json.gz): expected a Hugging Face model "
                    "directory with its tokenizer", path);
            goto out;
        }
        snprintf(cfg_path, n, "%s/tokenizer_config.json", path);
    } else {
        snprintf(json_path, n, "%s", path);
        const char *slash = strrchr(path, '/');
        int dl = slash ? (int)(slash - path) : 1;
        snprintf(cfg_path, n, "%.*s/tokenizer_config.json", dl, slash ? path : ".");
    }
    if (!(json = read_file(json_path, &jlen))) goto out;
    if (file_exists(cfg_path) && !(cfg = read_file(cfg_path, &clen))) goto out;
    t = load(json, jlen, cfg, clen, json_path, cfg_path);
out:
    free(json);
    free(cfg);
    free(json_path);
    free(cfg_path);
    return t;
}

void tok_free(tok_tokenizer *t) {
    if (!t) return;
    for (int32_t i = 0; t->str && i < t->nids; i++) {
        free(t->str[i]);
        free(t->raw[i]);
    }
    for (int i = 0; i < t->nadded; i++) free(t->added[i].content);
    for (int i = 0; i < t->nsteps; i++) pcre2_code_free(t->steps[i].re);
    pcre2_match_data_free(t->md);
    free(t->str);
    free(t->raw);
    free(t->raw_len);
    free(t->special);
    free(t->vocab_slots);
    free(t->merge_keys);
    free(t->merge_rank);
    free(t->merge_id);
    free(t->added);
    free(t->steps);
    free(t->chat_template);
    free(t->label);
    free(t->work);
    free(t->spans[0]);
    free(t->spans[1]);
    free(t->syms);
    free(t->heap);
    free(t->cache_slots);
    free(t->cache);
    free(t->cache_keys);
    free(t->cache_ids);
    free(t);
}

/* ---- BPE on one pre-token ---- */

static int heap_less(const bpe_cand *a, const bpe_cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(bpe_cand *h, int *n, bpe_cand c) {
    int i = (*n)++;
    h[i] = c;
    while (i > 0 && heap_less(&h[i], &h[(i - 1) / 2])) {
        bpe_cand tmp = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = tmp;
        i = (i - 1) / 2;
    }
}

static bpe_cand heap_pop(bpe_cand *h, int *n) {
    bpe_cand top = h[0];
    h[0] = h[--*n];
    for (int i = 0;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && heap_less(&h[l], &h[m])) m = l;
        if (r < *n && heap_less(&h[r], &h[m])) m = r;
        if (m == i) break;
        bpe_cand tmp = h[i];
        h[i] = h[m];
        h[m] = tmp;
        i = m;
    }
    return top;
}

/* Merge the bytes p[0..n) in rank order (lowest rank first, leftmost among equals) and append the
 * resulting ids. */
static int bpe(tok_tokenizer *t, const uint8_t *p, size_t n, tok_ids *out) {
    if (t->ignore_merges) {
        int32_t id = vocab_find(t, p, n);
        if (id >= 0) {
            tok_ids_push(out, id);
            return 0;
        }
    }
    if (n > (size_t)INT32_MAX / 2) return err_set("pre-token too long");
    int cap = (int)n;
    grow((void **)&t->syms, &t->syms_cap, cap, sizeof *t->syms);
    grow((void **)&t->heap, &t->heap_cap, 2 * cap + 1, sizeof *t->heap);
    bpe_sym *s = t->syms;
    bpe_cand *h = t->heap;
    int nh = 0;
    for (int i = 0; i < cap; i++) s[i] = (bpe_sym){t->byte_id[p[i]], i - 1, i + 1 < cap ? i + 1 : -1};
    int32_t rank, id;
    for (int i = 0; i + 1 < cap; i++)
        if (merge_find(t, s[i].id, s[i + 1].id, &rank, &id)) heap_push(h, &nh, (bpe_cand){rank, i});
    while (nh > 0) {
        bpe_cand c = heap_pop(h, &nh);
        int a = c.pos, b = s[a].next;
        if (s[a].id < 0 || b < 0) continue;
        if (!merge_find(t, s[a].id, s[b].id, &rank, &id) || rank != c.rank) continue;
        s[a].id = id;
        s[a].next = s[b].next;
        if (s[b].next >= 0) s[s[b].next].prev = a;
        s[b].id = -1;
        if (nh + 2 > t->heap_cap) { /* each merge adds at most two candidates and removes one */
            grow((void **)&t->heap, &t->heap_cap, nh + 2, sizeof *t->heap);
            h = t->heap;
        }
        if (s[a].prev >= 0 && merge_find(t, s[s[a].prev].id, s[a].id, &rank, &id))
            heap_push(h, &nh, (bpe_cand){rank, s[a].prev});
        if (s[a].next >= 0 && merge_find(t, s[a].id, s[s[a].next].id, &rank, &id))
            heap_push(h, &nh, (bpe_cand){rank, a});
    }
    for (int i = 0; i >= 0; i = s[i].next) tok_ids_push(out, s[i].id);
    return 0;
}

static void cache_clear(tok_tokenizer *t) {
    if (t->cache_slots) memset(t->cache_slots, 0xff, CACHE_SLOTS * sizeof *t->cache_slots);
    t->ncache = 0;
    t->cache_keys_len = t->cache_ids_len = 0;
}

/* BPE through the cache. */
static int encode_word(tok_tokenizer *t, const uint8_t *p, size_t n, tok_ids *out) {
    if (n == 0) return 0;
    if (n > CACHE_MAX_KEY) return bpe(t, p, n, out);
    if (!t->cache_slots) {
        t->cache_slots = mem_alloc(CACHE_SLOTS * sizeof *t->cache_slots);
        t->cache = mem_alloc(CACHE_MAX_ENTRIES * sizeof *t->cache);
        cache_clear(t);
    }
    uint64_t h = hash_bytes(p, n);
    uint32_t i = (uint32_t)h & (CACHE_SLOTS - 1);
    for (; t->cache_slots[i] >= 0; i = (i + 1) & (CACHE_SLOTS - 1)) {
        const cache_entry *e = &t->cache[t->cache_slots[i]];
        if (e->hash == h && e->key_len == n && !memcmp(t->cache_keys + e->key_off, p, n)) {
            grow((void **)&out->v, &out->cap, out->n + (int)e->nids, sizeof *out->v);
            memcpy(out->v + out->n, t->cache_ids + e->ids_off, e->nids * sizeof *out->v);
            out->n += (int)e->nids;
            return 0;
        }
    }
    int before = out->n;
    if (bpe(t, p, n, out)) return -1;
    size_t nids = (size_t)(out->n - before);
    if (t->ncache >= CACHE_MAX_ENTRIES) {
        cache_clear(t);
        for (i = (uint32_t)h & (CACHE_SLOTS - 1); t->cache_slots[i] >= 0; i = (i + 1) & (CACHE_SLOTS - 1)) {}
    }
    grow_bytes((void **)&t->cache_keys, &t->cache_keys_cap, t->cache_keys_len + n, 1);
    grow_bytes((void **)&t->cache_ids, &t->cache_ids_cap, t->cache_ids_len + nids, sizeof *t->cache_ids);
    cache_entry *e = &t->cache[t->ncache];
    *e = (cache_entry){h, (uint32_t)t->cache_keys_len, (uint32_t)n, (uint32_t)t->cache_ids_len, (uint32_t)nids};
    memcpy(t->cache_keys + t->cache_keys_len, p, n);
    memcpy(t->cache_ids + t->cache_ids_len, out->v + before, nids * sizeof *out->v);
    t->cache_keys_len += n;
    t->cache_ids_len += nids;
    t->cache_slots[i] = t->ncache++;
    return 0;
}

/* ---- pre-tokenization ---- */

static void push_span(tok_tokenizer *t, int which, size_t off, size_t len) {
    grow((void **)&t->spans[which], &t->spans_cap[which], t->nspans[which] + 1, sizeof(span));
    t->spans[which][t->nspans[which]++] = (span){off, len};
}

/* Split work[off, off+len) by the regex; keep matches and/or gaps per behavior (Isolated keeps
 * both, Removed keeps the gaps; invert swaps which is which). Spans go to list `to`. */
static int regex_split(tok_tokenizer *t, const pcre2_code *re, int behavior, int invert, size_t off, size_t len, int to) {
    const PCRE2_SPTR subj = (PCRE2_SPTR)(t->work + off);
    size_t pos = 0, prev = 0;
    while (pos < len) {
        int rc = pcre2_match(re, subj, len, pos, PCRE2_NO_UTF_CHECK, t->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return err_set("%s: pre_tokenizer regex failed: %s", t->label, (char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
        size_t s = ov[0], e = ov[1];
        if (e == s) { /* empty match: step over one character */
            pos = s + 1;
            while (pos < len && (t->work[off + pos] & 0xC0) == 0x80) pos++;
            continue;
        }
        int keep_gap = behavior == SPLIT_ISOLATED || !invert;
        int keep_match = behavior == SPLIT_ISOLATED || invert;
        if (s > prev && keep_gap) push_span(t, to, off + prev, s - prev);
        if (keep_match) push_span(t, to, off + s, e - s);
        prev = pos = e;
    }
    if (len > prev && (behavior == SPLIT_ISOLATED || !invert)) push_span(t, to, off + prev, len - prev);
    return 0;
}

/* Pre-tokenize t->work[0, n) and BPE every piece. */
static int encode_normalized(tok_tokenizer *t, size_t n, tok_ids *out) {
    int cur = 0;
    t->nspans[0] = t->nspans[1] = 0;
    push_span(t, 0, 0, n);
    for (int k = 0; k < t->nsteps; k++) {
        const pre_step *st = &t->steps[k];
        int nxt = 1 - cur;
        t->nspans[nxt] = 0;
        for (int i = 0; i < t->nspans[cur]; i++) {
            span sp = t->spans[cur][i];
            if (st->kind == STEP_BYTELEVEL && st->add_prefix_space && (sp.len == 0 || t->work[sp.off] != ' ')) {
                grow_bytes((void **)&t->work, &t->work_cap, t->work_len + sp.len + 1, 1);
                t->work[t->work_len] = ' ';
                memmove(t->work + t->work_len + 1, t->work + sp.off, sp.len);
                sp = (span){t->work_len, sp.len + 1};
                t->work_len += sp.len;
            }
            if (sp.len == 0) continue;
            if (!st->re) push_span(t, nxt, sp.off, sp.len);
            else if (regex_split(t, st->re, st->kind == STEP_SPLIT ? st->behavior : SPLIT_ISOLATED,
                                 st->kind == STEP_SPLIT && st->invert, sp.off, sp.len, nxt))
                return -1;
        }
        cur = nxt;
    }
    for (int i = 0; i < t->nspans[cur]; i++)
        if (encode_word(t, t->work + t->spans[cur][i].off, t->spans[cur][i].len, out)) return -1;
    return 0;
}

/* Leftmost-longest added token of the given normalized-ness starting at or after `from`.
 * Returns its index and sets *at, or -1. */
static int find_added(const tok_tokenizer *t, const uint8_t *s, size_t n, size_t from, int normalized, size_t *at) {
    const uint8_t *first = t->added_first[normalized];
    for (size_t i = from; i < n; i++) {
        if (!first[s[i]]) continue;
        int best = -1;
        for (int k = 0; k < t->nadded; k++) {
            const added_tok *a = &t->added[k];
            if (a->normalized != normalized || (uint8_t)a->content[0] != s[i] || a->len > n - i) continue;
            if (best >= 0 && a->len <= t->added[best].len) continue;
            if (memcmp(a->content, s + i, a->len)) continue;
            if (a->single_word) {
                int l, before = 0;
                if (i > 0) {
                    size_t j = i - 1;
                    while (j > 0 && (s[j] & 0xC0) == 0x80) j--;
                    before = is_word_char(utf8_cp(s + j, &l));
                }
                int after = i + a->len < n && is_word_char(utf8_cp(s + i + a->len, &l));
                if (before || after) continue;
            }
            best = k;
        }
        if (best >= 0) {
            *at = i;
            return best;
        }
    }
    return -1;
}

/* Cut added tokens out of s[0, n) (level 0: those matched before normalization, on raw text;
 * level 1: the normalized ones, on normalized text) and encode what lies between. */
static int encode_level(tok_tokenizer *t, const uint8_t *s, size_t n, int level, tok_ids *out);

static int encode_gap(tok_tokenizer *t, const uint8_t *s, size_t n, int level, tok_ids *out) {
    if (level == 0) {
        int need_nfc = 0;
        if (t->nfc)
            for (size_t i = 0; i < n && !need_nfc; i++) need_nfc = s[i] >= 0xCC; /* below U+0300 NFC is identity */
        if (need_nfc) {
            utf8proc_uint8_t *norm = NULL;
            utf8proc_ssize_t m = utf8proc_map(s, (utf8proc_ssize_t)n, &norm, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (m < 0) return err_set("NFC normalization failed: %s", utf8proc_errmsg(m));
            int rc = t->has_normalized_added ? encode_level(t, norm, (size_t)m, 1, out) : encode_gap(t, norm, (size_t)m, 1, out);
            free(norm);
            return rc;
        }
        return t->has_normalized_added ? encode_level(t, s, n, 1, out) : encode_gap(t, s, n, 1, out);
    }
    grow_bytes((void **)&t->work, &t->work_cap, n + 1, 1);
    memcpy(t->work, s, n);
    t->work_len = n;
    return encode_normalized(t, n, out);
}

static int encode_level(tok_tokenizer *t, const uint8_t *s, size_t n, int level, tok_ids *out) {
    size_t start = 0, at;
    int k;
    if (n == 0) return encode_gap(t, s, 0, level, out);
    while (start < n && (k = find_added(t, s, n, start, level, &at)) >= 0) {
        const added_tok *a = &t->added[k];
        size_t b = at, e = at + a->len;
        int l;
        if (a->lstrip)
            while (b > start) {
                size_t j = b - 1;
                while (j > start && (s[j] & 0xC0) == 0x80) j--;
                if (!is_unicode_space(utf8_cp(s + j, &l))) break;
                b = j;
            }
        if (a->rstrip)
            while (e < n && is_unicode_space(utf8_cp(s + e, &l))) e += (size_t)l;
        if (b > start && encode_gap(t, s + start, b - start, level, out)) return -1;
        tok_ids_push(out, a->id);
        start = e;
    }
    if (start < n && encode_gap(t, s + start, n - start, level, out)) return -1;
    return 0;
}

int tok_encode(tok_tokenizer *t, const char *text, size_t len, int add_special, tok_ids *out) {
    const uint8_t *s = (const uint8_t *)text;
    long bad = utf8_invalid_at(s, len);
    if (bad >= 0) return err_set("invalid UTF-8 at byte %ld (byte 0x%02x)", bad, s[bad]);
    for (int i = 0; add_special && i < t->nprefix; i++) tok_ids_push(out, t->prefix[i]);
    if (encode_level(t, s, len, 0, out)) return -1;
    for (int i = 0; add_special && i < t->nsuffix; i++) tok_ids_push(out, t->suffix[i]);
    return 0;
}

/* ---- decoding ---- */

/* transformers' clean_up_tokenization: each replacement applied to the whole text in turn. */
static void cleanup_spaces(char *s) {
    static const char *const from[] = {" .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's", " 've", " 're"};
    static const char *const to[] = {".", "?", "!", ",", "'", "n't", "'m", "'s", "'ve", "'re"};
    for (int r = 0; r < 10; r++) {
        size_t fl = strlen(from[r]), tl = strlen(to[r]);
        char *w = s, *p = s;
        while (*p) {
            if (!strncmp(p, from[r], fl)) {
                memmove(w, to[r], tl);
                w += tl;
                p += fl;
            } else *w++ = *p++;
        }
        *w = '\0';
    }
}

char *tok_decode(const tok_tokenizer *t, const int32_t *ids, int n, int skip_special) {
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->nids || !t->str[ids[i]]) {
            err_set("token id %d at position %d is not in the vocabulary (size %d)", ids[i], i, t->nids);
            return NULL;
        }
        total += t->raw_len[ids[i]];
    }
    uint8_t *bytes = mem_alloc(total + 1);
    char *outs = mem_alloc(3 * total + 1); /* each bad byte may become the 3-byte U+FFFD */
    size_t m = 0;
    for (int i = 0; i < n; i++) {
        if (skip_special && t->special[ids[i]]) continue;
        memcpy(bytes + m, t->raw[ids[i]], t->raw_len[ids[i]]);
        m += t->raw_len[ids[i]];
    }
    size_t o = 0;
    for (size_t i = 0; i < m;) {
        int l = utf8_seq_len(bytes + i, m - i);
        if (l) {
            memcpy(outs + o, bytes + i, (size_t)l);
            o += (size_t)l;
            i += (size_t)l;
        } else {
            memcpy(outs + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += (size_t)utf8_bad_len(bytes + i, m - i);
        }
    }
    outs[o] = '\0';
    free(bytes);
    if (t->cleanup_spaces) cleanup_spaces(outs);
    return outs;
}

/* ---- lookups ---- */

int tok_vocab_size(const tok_tokenizer *t) { return t->nids; }

int32_t tok_token_id(const tok_tokenizer *t, const char *token) {
    for (int i = 0; i < t->nadded; i++)
        if (!strcmp(t->added[i].content, token)) return t->added[i].id;
    size_t n = strlen(token);
    uint8_t *buf = mem_alloc(n + 1);
    long r = byte_level_decode(token, n, buf);
    int32_t id = r < 0 ? -1 : vocab_find(t, buf, (size_t)r);
    free(buf);
    return id >= 0 && !strcmp(t->str[id], token) ? id : -1;
}

const char *tok_token_str(const tok_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->nids ? t->str[id] : NULL;
}

int tok_is_special(const tok_tokenizer *t, int32_t id) { return id >= 0 && id < t->nids && t->special[id]; }
int32_t tok_bos_id(const tok_tokenizer *t) { return t->bos; }
int32_t tok_eos_id(const tok_tokenizer *t) { return t->eos; }
int32_t tok_pad_id(const tok_tokenizer *t) { return t->pad; }
const char *tok_chat_template(const tok_tokenizer *t) { return t->chat_template; }

/* ---- writing a small trained tokenizer ---- */

static const char CHATML_TEMPLATE[] =
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}";
static const char LLAMA3_TEMPLATE[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

typedef struct train_word {
    int32_t *sym;
    int n;
    int64_t count;
} train_word;

typedef struct train_state {
    train_word *words;
    int nwords, cap;
    uint8_t **tok;        /* bytes of each token id */
    uint32_t *tok_len;
    int ntok;
    int32_t (*merges)[2];
    int nmerges;
} train_state;

static void train_add_word(train_state *s, const uint8_t *p, size_t n) {
    for (int i = 0; i < s->nwords; i++) { /* small corpora: a linear scan is enough */
        train_word *w = &s->words[i];
        if ((size_t)w->n != n) continue;
        int same = 1;
        for (size_t k = 0; k < n && same; k++) same = w->sym[k] == p[k];
        if (same) {
            w->count++;
            return;
        }
    }
    grow((void **)&s->words, &s->cap, s->nwords + 1, sizeof *s->words);
    train_word *w = &s->words[s->nwords];
    w->sym = mem_alloc(n * sizeof *w->sym + 1);
    for (size_t k = 0; k < n; k++) w->sym[k] = p[k];
    w->n = (int)n;
    w->count = 1;
    s->nwords++;
}

/* The most frequent adjacent pair (ties: the smallest ids); 0 when no pair occurs twice. */
static int train_best_pair(const train_state *s, int32_t *a, int32_t *b) {
    int64_t best = 1;
    for (int i = 0; i < s->nwords; i++)
        for (int k = 0; k + 1 < s->words[i].n; k++) {
            int32_t x = s->words[i].sym[k], y = s->words[i].sym[k + 1];
            int64_t c = 0;
            for (int j = 0; j < s->nwords; j++)
                for (int m = 0; m + 1 < s->words[j].n; m++)
                    if (s->words[j].sym[m] == x && s->words[j].sym[m + 1] == y) c += s->words[j].count;
            if (c > best || (c == best && best > 1 && (x < *a || (x == *a && y < *b)))) {
                best = c;
                *a = x;
                *b = y;
            }
        }
    return best > 1;
}

static int train(train_state *s, const char *corpus, size_t len, int vocab_size, const char *regex) {
    s->tok = mem_calloc((size_t)vocab_size, sizeof *s->tok);
    s->tok_len = mem_calloc((size_t)vocab_size, sizeof *s->tok_len);
    s->merges = mem_calloc((size_t)vocab_size, sizeof *s->merges);
    for (int b = 0; b < 256; b++) {
        s->tok[b] = mem_alloc(1);
        s->tok[b][0] = (uint8_t)b;
        s->tok_len[b] = 1;
    }
    s->ntok = 256;
    if (len == 0) return 0;
    if (utf8_invalid_at((const uint8_t *)corpus, len) >= 0) return err_set("tokenizer training corpus is not valid UTF-8");
    pcre2_code *re = compile_regex(regex, strlen(regex), 0, "tokenizer training");
    if (!re) return -1;
    pcre2_match_data *md = match_data_create(4);
    for (size_t pos = 0; pos < len;) {
        if (pcre2_match(re, (PCRE2_SPTR)corpus, len, pos, 0, md, NULL) < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[1] == ov[0]) break;
        train_add_word(s, (const uint8_t *)corpus + ov[0], ov[1] - ov[0]);
        pos = ov[1];
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    int32_t a = 0, b = 0;
    while (s->ntok < vocab_size && train_best_pair(s, &a, &b)) {
        uint32_t n = s->tok_len[a] + s->tok_len[b];
        uint8_t *cat = mem_alloc(n);
        memcpy(cat, s->tok[a], s->tok_len[a]);
        memcpy(cat + s->tok_len[a], s->tok[b], s->tok_len[b]);
        int32_t id = -1;
        for (int i = 0; i < s->ntok && id < 0; i++)
            if (s->tok_len[i] == n && !memcmp(s->tok[i], cat, n)) id = i;
        if (id < 0) {
            id = s->ntok++;
            s->tok[id] = cat;
            s->tok_len[id] = n;
        } else free(cat);
        s->merges[s->nmerges][0] = a;
        s->merges[s->nmerges][1] = b;
        s->nmerges++;
        for (int i = 0; i < s->nwords; i++) {
            train_word *w = &s->words[i];
            int o = 0;
            for (int k = 0; k < w->n; k++) {
                if (k + 1 < w->n && w->sym[k] == a && w->sym[k + 1] == b) {
                    w->sym[o++] = id;
                    k++;
                } else w->sym[o++] = w->sym[k];
            }
            w->n = o;
        }
        if (s->nmerges >= vocab_size) break;
    }
    return 0;
}

static void train_free(train_state *s) {
    for (int i = 0; i < s->nwords; i++) free(s->words[i].sym);
    for (int i = 0; s->tok && i < s->ntok; i++) free(s->tok[i]);
    free(s->words);
    free(s->tok);
    free(s->tok_len);
    free(s->merges);
}

static cJSON *byte_level_json(const train_state *s, int32_t id) {
    char *str = byte_level_encode(s->tok[id], s->tok_len[id]);
    cJSON *j = cJSON_CreateString(str);
    free(str);
    return j;
}

static cJSON *byte_level_step(void) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "ByteLevel");
    cJSON_AddFalseToObject(b, "add_prefix_space");
    cJSON_AddFalseToObject(b, "trim_offsets");
    cJSON_AddFalseToObject(b, "use_regex");
    return b;
}

/* The added tokens: the style's five specials after the trained ones. */
static cJSON *added_tokens_json(const train_state *s, tok_style style) {
    static const char *const chatml[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"};
    static const char *const llama3[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                         "<|end_header_id|>", "<|eot_id|>"};
    const char *const *specials = style == TOK_STYLE_CHATML ? chatml : llama3;
    cJSON *added = cJSON_CreateArray();
    for (int i = 0; i < 5; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", s->ntok + i);
        cJSON_AddStringToObject(a, "content", specials[i]);
        cJSON_AddFalseToObject(a, "single_word");
        cJSON_AddFalseToObject(a, "lstrip");
        cJSON_AddFalseToObject(a, "rstrip");
        cJSON_AddFalseToObject(a, "normalized");
        cJSON_AddBoolToObject(a, "special", style != TOK_STYLE_CHATML || i < 3); /* think tags are text */
        cJSON_AddItemToArray(added, a);
    }
    return added;
}

/* The pre-tokenizer: the style's split regex, then ByteLevel. */
static cJSON *pre_tokenizer_json(tok_style style) {
    cJSON *pre = cJSON_CreateObject();
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *steps = cJSON_AddArrayToObject(pre, "pretokenizers");
    cJSON *split = cJSON_CreateObject();
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(split, "pattern"), "Regex",
                            style == TOK_STYLE_CHATML ? QWEN2_REGEX : LLAMA3_REGEX);
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddFalseToObject(split, "invert");
    cJSON_AddItemToArray(steps, split);
    cJSON_AddItemToArray(steps, byte_level_step());
    return pre;
}

/* The BPE model: the trained vocabulary and merges. */
static cJSON *bpe_model_json(const train_state *s) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", "BPE");
    cJSON_AddNullToObject(m, "dropout");
    cJSON_AddNullToObject(m, "unk_token");
    cJSON_AddNullToObject(m, "continuing_subword_prefix");
    cJSON_AddNullToObject(m, "end_of_word_suffix");
    cJSON_AddFalseToObject(m, "fuse_unk");
    cJSON_AddFalseToObject(m, "byte_fallback");
    cJSON_AddFalseToObject(m, "ignore_merges");
    cJSON *vocab = cJSON_AddObjectToObject(m, "vocab");
    for (int i = 0; i < s->ntok; i++) {
        char *str = byte_level_encode(s->tok[i], s->tok_len[i]);
        cJSON_AddNumberToObject(vocab, str, i);
        free(str);
    }
    cJSON *merges = cJSON_AddArrayToObject(m, "merges");
    for (int i = 0; i < s->nmerges; i++) {
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, byte_level_json(s, s->merges[i][0]));
        cJSON_AddItemToArray(pair, byte_level_json(s, s->merges[i][1]));
        cJSON_AddItemToArray(merges, pair);
    }
    return m;
}

/* tokenizer_config.json: the style's special tokens and chat template. */
static cJSON *tokenizer_config_json(tok_style style) {
    cJSON *cfg = cJSON_CreateObject();
    if (style == TOK_STYLE_CHATML) {
        cJSON_AddNullToObject(cfg, "bos_token");
        cJSON_AddStringToObject(cfg, "eos_token", "<|im_end|>");
        cJSON_AddStringToObject(cfg, "pad_token", "<|endoftext|>");
        cJSON_AddStringToObject(cfg, "chat_template", CHATML_TEMPLATE);
    } else {
        cJSON_AddStringToObject(cfg, "bos_token", "<|begin_of_text|>");
        cJSON_AddStringToObject(cfg, "eos_token", "<|eot_id|>");
        cJSON_AddStringToObject(cfg, "pad_token", "<|end_of_text|>");
        cJSON_AddStringToObject(cfg, "chat_template", LLAMA3_TEMPLATE);
    }
    cJSON_AddFalseToObject(cfg, "clean_up_tokenization_spaces");
    cJSON_AddNumberToObject(cfg, "model_max_length", 131072);
    cJSON_AddStringToObject(cfg, "tokenizer_class", "PreTrainedTokenizerFast");
    return cfg;
}

int tok_write_tiny(const char *dir, const char *corpus, size_t len, int vocab_size, tok_style style) {
    if (vocab_size < 256) return err_set("tokenizer vocab_size %d: must be at least 256 (the byte tokens)", vocab_size);
    byte_level_init();
    train_state s = {0};
    int rc = train(&s, corpus ? corpus : "", corpus ? len : 0, vocab_size,
                   style == TOK_STYLE_CHATML ? QWEN2_REGEX : LLAMA3_REGEX);
    if (!rc) {
        cJSON *j = cJSON_CreateObject(), *cfg = tokenizer_config_json(style);
        cJSON_AddStringToObject(j, "version", "1.0");
        cJSON_AddNullToObject(j, "truncation");
        cJSON_AddNullToObject(j, "padding");
        cJSON_AddItemToObject(j, "added_tokens", added_tokens_json(&s, style));
        if (style == TOK_STYLE_CHATML) cJSON_AddStringToObject(cJSON_AddObjectToObject(j, "normalizer"), "type", "NFC");
        else cJSON_AddNullToObject(j, "normalizer");
        cJSON_AddItemToObject(j, "pre_tokenizer", pre_tokenizer_json(style));
        cJSON_AddItemToObject(j, "post_processor", byte_level_step());
        cJSON_AddItemToObject(j, "decoder", byte_level_step());
        cJSON_AddItemToObject(j, "model", bpe_model_json(&s));
        rc = io_write_json(dir, "tokenizer.json", j) || io_write_json(dir, "tokenizer_config.json", cfg) ? -1 : 0;
        cJSON_Delete(j);
        cJSON_Delete(cfg);
    }
    train_free(&s);
    return rc;
}
