// ts_core — handles, scopes, errors, creation, generators, host copies, autograd and library
// information for the C tensor API (ts.h). The ops live in ts_ops.cpp.
#include "tensor/ts_impl.hpp"

extern "C" {
#include "common/err.h"
}

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/api/include/torch/version.h>

#include <atomic>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <dlfcn.h>
#include <cstring>
#include <link.h>
#include <stdexcept>
#include <string>
#include <vector>
#include <unistd.h>

// ---- errors and conversions ----

namespace ts_detail {

void fail(const char *fn, const char *what) {
    std::string msg(what ? what : "");
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    err_set("%s: %s", fn, msg.c_str());
}

ts_tensor *null_arg(const char *fn, const char *arg) {
    null_arg_status(fn, arg);
    return nullptr;
}

int null_arg_status(const char *fn, const char *arg) {
    if (err_msg()[0]) return err_prefix("%s: argument '%s' is NULL, after", fn, arg);
    return err_set("%s: argument '%s' is NULL", fn, arg);
}

at::ScalarType to_aten(ts_dtype dt) {
    switch (dt) {
    case TS_F32: return at::kFloat;
    case TS_F64: return at::kDouble;
    case TS_BF16: return at::kBFloat16;
    case TS_F16: return at::kHalf;
    case TS_I64: return at::kLong;
    case TS_I32: return at::kInt;
    case TS_U8: return at::kByte;
    case TS_BOOL: return at::kBool;
    }
    throw std::invalid_argument("unknown ts_dtype " + std::to_string((int)dt));
}

ts_dtype from_aten(at::ScalarType st, bool *ok) {
    *ok = true;
    switch (st) {
    case at::kFloat: return TS_F32;
    case at::kDouble: return TS_F64;
    case at::kBFloat16: return TS_BF16;
    case at::kHalf: return TS_F16;
    case at::kLong: return TS_I64;
    case at::kInt: return TS_I32;
    case at::kByte: return TS_U8;
    case at::kBool: return TS_BOOL;
    default: *ok = false; return TS_F32;
    }
}

at::Device to_aten(ts_device dev) {
    if (dev.type == TS_CPU) return at::Device(at::kCPU);
    if (dev.type == TS_CUDA) return at::Device(at::kCUDA, (c10::DeviceIndex)dev.index);
    if (dev.type == TS_META) return at::Device(at::kMeta);
    throw std::invalid_argument("unknown ts_device type " + std::to_string((int)dev.type));
}

at::IntArrayRef shape_ref(const int64_t *shape, int ndim) {
    if (ndim < 0 || ndim > TS_MAX_DIMS)
        throw std::invalid_argument("ndim " + std::to_string(ndim) + " is outside [0, " +
                                    std::to_string(TS_MAX_DIMS) + "]");
    if (ndim > 0 && !shape) throw std::invalid_argument("shape is NULL with ndim > 0");
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            throw std::invalid_argument("negative size " + std::to_string(shape[i]) + " at dim " +
                                        std::to_string(i));
    return at::IntArrayRef(shape, (size_t)ndim);
}

// ---- handles and scopes ----

static std::atomic<int64_t> live_handles{0};

struct scope_list {
    ts_tensor head; // sentinel of a circular doubly linked list
};
static thread_local std::vector<scope_list *> scopes;

static void list_insert(ts_tensor *t, int depth) {
    t->depth = depth;
    if (depth == 0) {
        t->prev = t->next = nullptr;
        return;
    }
    ts_tensor *head = &scopes[(size_t)depth - 1]->head;
    t->next = head->next;
    t->prev = head;
    head->next->prev = t;
    head->next = t;
}

static void list_remove(ts_tensor *t) {
    if (t->depth == 0) return;
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->prev = t->next = nullptr;
    t->depth = 0;
}

ts_tensor *wrap(at::Tensor t) {
    ts_tensor *h = new ts_tensor{std::move(t), nullptr, nullptr, 0};
    live_handles++;
    list_insert(h, (int)scopes.size());
    return h;
}

} // namespace ts_detail

using namespace ts_detail;

extern "C" {

const char *ts_last_error(void) { return err_msg(); }

int ts_error_at(const char *file, int line) { return err_prefix("%s:%d", file, line); }

void ts_free(ts_tensor *t) {
    if (!t) return;
    list_remove(t);
    live_handles--;
    delete t;
}

void ts_scope_begin(void) {
    scope_list *s = new scope_list;
    s->head.prev = s->head.next = &s->head;
    s->head.depth = -1;
    scopes.push_back(s);
}

void ts_scope_end(void) {
    if (scopes.empty()) return;
    scope_list *s = scopes.back();
    while (s->head.next != &s->head) ts_free(s->head.next);
    scopes.pop_back();
    delete s;
}

ts_tensor *ts_keep(ts_tensor *t) {
    if (!t || t->depth == 0) return t;
    int parent = t->depth - 1;
    list_remove(t);
    list_insert(t, parent);
    return t;
}

ts_tensor *ts_unscope(ts_tensor *t) {
    if (t) list_remove(t);
    return t;
}

int64_t ts_live_handles(void) { return live_handles.load(); }

// ---- library, threads, devices ----

const char *ts_version(void) { return TORCH_VERSION; }

int ts_cuda_device_count(void) {
    try {
        return at::detail::getCUDAHooks().hasCUDA() ? (int)at::detail::getCUDAHooks().getNumGPUs() : 0;
    } catch (...) {
        return 0;
    }
}

int ts_cuda_available(void) { return ts_cuda_device_count() > 0; }

const char *ts_build_config(void) {
    static const std::string cfg = at::show_config();
    return cfg.c_str();
}

static int find_torch_cpu(struct dl_phdr_info *info, size_t, void *out) {
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    const char *base = std::strrchr(name, '/');
    if (std::strncmp(base ? base + 1 : name, "libtorch_cpu.so", 15) != 0) return 0;
    char real[PATH_MAX];
    *static_cast<std::string *>(out) = realpath(name, real) ? real : name;
    return 1;
}

const char *ts_library_path(void) {
    static const std::string path = [] {
        std::string p;
        dl_iterate_phdr(find_torch_cpu, &p);
        return p;
    }();
    return path.c_str();
}

void ts_set_num_threads(int n) {
    if (n <= 0) return;
    at::set_num_threads(n);
    /* libtorch's setting does not reach OpenBLAS's own pool, whose idle workers spin: set both */
    using set_fn = void (*)(int);
    if (auto f = reinterpret_cast<set_fn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(n);
}

int ts_get_num_threads(void) { return at::get_num_threads(); }

static const char *blas_coretype_advice(void) {
    if (std::getenv("OPENBLAS_CORETYPE")) return nullptr;
    using name_fn = char *(*)(void);
    auto corename = reinterpret_cast<name_fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
    if (!corename || !corename()) return nullptr;
#if defined(__x86_64__) && defined(__GNUC__)
    std::string core = corename();
    for (char &ch : core) ch = (char)std::tolower((unsigned char)ch);
    for (const char *fast : {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"})
        if (core == fast) return nullptr;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return nullptr;
}

void ts_blas_pick_kernels(char **argv) {
    const char *core = blas_coretype_advice();
    char self[PATH_MAX];
    ssize_t n = core ? readlink("/proc/self/exe", self, sizeof self - 1) : -1;
    if (n <= 0) return;
    self[n] = '\0'; /* the file itself, so that the process keeps its name (not "exe") */
    setenv("OPENBLAS_CORETYPE", core, 1);
    setenv("RLVR_BLAS_CORE_CHOSEN", core, 1);
    execv(self, argv);
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("RLVR_BLAS_CORE_CHOSEN");
}

size_t ts_dtype_size(ts_dtype dt) {
    switch (dt) {
    case TS_F32: case TS_I32: return 4;
    case TS_F64: case TS_I64: return 8;
    case TS_BF16: case TS_F16: return 2;
    case TS_U8: case TS_BOOL: return 1;
    }
    return 0;
}

const char *ts_dtype_name(ts_dtype dt) {
    static const char *const names[] = {"f32", "f64", "bf16", "f16", "i64", "i32", "u8", "bool"};
    return (unsigned)dt < sizeof names / sizeof names[0] ? names[dt] : "?";
}

int ts_device_parse(const char *s, ts_device *out) {
    if (!strcmp(s, "cpu")) {
        *out = TS_CPU_DEVICE;
        return 0;
    }
    if (!strncmp(s, "cuda", 4)) {
        int idx = 0;
        if (s[4] == ':') {
            char *end;
            long v = strtol(s + 5, &end, 10);
            if (s[5] == '\0' || *end != '\0' || v < 0 || v > 255)
                return err_set("bad device '%s': expected cpu, cuda or cuda:N", s);
            idx = (int)v;
        } else if (s[4] != '\0') {
            return err_set("bad device '%s': expected cpu, cuda or cuda:N", s);
        }
        *out = ts_device{TS_CUDA, idx};
        return 0;
    }
    return err_set("bad device '%s': expected cpu, cuda or cuda:N", s);
}

// ---- creation ----

static at::TensorOptions opts(ts_dtype dt, ts_device dev) {
    return at::TensorOptions().dtype(to_aten(dt)).device(to_aten(dev));
}

ts_tensor *ts_empty(const int64_t *shape, int ndim, ts_dtype dt, ts_device dev) {
    TS_RETURN_TENSOR(at::empty(shape_ref(shape, ndim), opts(dt, dev)));
}
ts_tensor *ts_zeros(const int64_t *shape, int ndim, ts_dtype dt, ts_device dev) {
    TS_RETURN_TENSOR(at::zeros(shape_ref(shape, ndim), opts(dt, dev)));
}
ts_tensor *ts_ones(const int64_t *shape, int ndim, ts_dtype dt, ts_device dev) {
    TS_RETURN_TENSOR(at::ones(shape_ref(shape, ndim), opts(dt, dev)));
}
ts_tensor *ts_full(const int64_t *shape, int ndim, double value, ts_dtype dt, ts_device dev) {
    TS_RETURN_TENSOR(at::full(shape_ref(shape, ndim), value, opts(dt, dev)));
}
ts_tensor *ts_arange(double start, double end, double step, ts_dtype dt, ts_device dev) {
    TS_RETURN_TENSOR(at::arange(start, end, step, opts(dt, dev)));
}
ts_tensor *ts_from_data(const void *data, const int64_t *shape, int ndim, ts_dtype dt) {
    TS_NEED(data);
    TS_RETURN_TENSOR(at::from_blob(const_cast<void *>(data), shape_ref(shape, ndim),
                                   at::TensorOptions().dtype(to_aten(dt)))
                         .clone());
}
ts_tensor *ts_zeros_like(const ts_tensor *a) {
    TS_NEED(a);
    TS_RETURN_TENSOR(at::zeros_like(a->t));
}
ts_tensor *ts_ones_like(const ts_tensor *a) {
    TS_NEED(a);
    TS_RETURN_TENSOR(at::ones_like(a->t));
}
ts_tensor *ts_full_like(const ts_tensor *a, double value) {
    TS_NEED(a);
    TS_RETURN_TENSOR(at::full_like(a->t, value));
}

static c10::optional<at::Generator> gen_of(ts_generator *g) {
    if (!g) return c10::nullopt;
    return g->g;
}

ts_tensor *ts_rand(const int64_t *shape, int ndim, ts_generator *gen, ts_dtype dt) {
    TS_RETURN_TENSOR(at::rand(shape_ref(shape, ndim), gen_of(gen), opts(dt, TS_CPU_DEVICE)));
}
ts_tensor *ts_randn(const int64_t *shape, int ndim, ts_generator *gen, ts_dtype dt) {
    TS_RETURN_TENSOR(at::randn(shape_ref(shape, ndim), gen_of(gen), opts(dt, TS_CPU_DEVICE)));
}
ts_tensor *ts_randint(int64_t low, int64_t high, const int64_t *shape, int ndim, ts_generator *gen) {
    TS_RETURN_TENSOR(at::randint(low, high, shape_ref(shape, ndim), gen_of(gen),
                                 opts(TS_I64, TS_CPU_DEVICE)));
}
ts_tensor *ts_normal_(ts_tensor *t, double mean, double std, ts_generator *gen) {
    TS_NEED(t);
    try {
        at::NoGradGuard ng;
        t->t.normal_(mean, std, gen_of(gen));
        return t;
    } catch (const c10::Error &e) {
        fail(__func__, e.what_without_backtrace());
    }
    return nullptr;
}
ts_tensor *ts_uniform_(ts_tensor *t, double lo, double hi, ts_generator *gen) {
    TS_NEED(t);
    try {
        at::NoGradGuard ng;
        t->t.uniform_(lo, hi, gen_of(gen));
        return t;
    } catch (const c10::Error &e) {
        fail(__func__, e.what_without_backtrace());
    }
    return nullptr;
}
ts_tensor *ts_multinomial(const ts_tensor *probs, int64_t n, int replacement, ts_generator *gen) {
    TS_NEED(probs);
    TS_RETURN_TENSOR(at::multinomial(probs->t, n, replacement != 0, gen_of(gen)));
}

// ---- generators ----

ts_generator *ts_generator_init(uint64_t seed) {
    try {
        return new ts_generator{at::make_generator<at::CPUGeneratorImpl>(seed)};
    } catch (const std::exception &e) {
        fail(__func__, e.what());
    }
    return nullptr;
}

void ts_generator_free(ts_generator *g) { delete g; }

void ts_manual_seed(uint64_t seed) {
    at::Generator g = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_current_seed(seed);
}

int ts_generator_get_state(const ts_generator *g, uint8_t *buf, size_t cap, size_t *len) {
    TS_NEED_STATUS(g);
    TS_NEED_STATUS(len);
    TS_RETURN_STATUS({
        at::Tensor s = g->g.get_state();
        *len = (size_t)s.numel();
        if (cap > 0) {
            if (cap < *len)
                throw std::invalid_argument("buffer of " + std::to_string(cap) +
                                            " bytes is smaller than the state (" +
                                            std::to_string(*len) + ")");
            std::memcpy(buf, s.data_ptr<uint8_t>(), *len);
        }
    });
}

int ts_generator_set_state(ts_generator *g, const uint8_t *buf, size_t len) {
    TS_NEED_STATUS(g);
    TS_NEED_STATUS(buf);
    TS_RETURN_STATUS({
        at::Tensor s = at::empty({(int64_t)len}, at::kByte);
        std::memcpy(s.data_ptr<uint8_t>(), buf, len);
        g->g.set_state(s);
    });
}

// ---- information and host copies ----

int ts_ndim(const ts_tensor *t) { return t ? (int)t->t.dim() : -1; }

int64_t ts_size(const ts_tensor *t, int dim) {
    if (!t) return null_arg_status(__func__, "t");
    try {
        return t->t.size(dim);
    } catch (const c10::Error &e) {
        fail(__func__, e.what_without_backtrace());
    }
    return -1;
}

int64_t ts_numel(const ts_tensor *t) { return t ? t->t.numel() : -1; }

int ts_shape(const ts_tensor *t, int64_t *out) {
    if (!t) return null_arg_status(__func__, "t");
    int n = (int)t->t.dim();
    for (int i = 0; i < n; i++) out[i] = t->t.size(i);
    return n;
}

ts_dtype ts_get_dtype(const ts_tensor *t) {
    bool ok;
    return t ? from_aten(t->t.scalar_type(), &ok) : TS_F32;
}

ts_device ts_get_device(const ts_tensor *t) {
    if (t && t->t.is_meta()) return ts_device{TS_META, 0};
    if (!t || !t->t.is_cuda()) return TS_CPU_DEVICE;
    return ts_device{TS_CUDA, (int)t->t.get_device()};
}

int ts_is_contiguous(const ts_tensor *t) { return t && t->t.is_contiguous(); }

const char *ts_describe(const ts_tensor *t, char *buf, size_t cap) {
    if (!t) {
        snprintf(buf, cap, "(null)");
        return buf;
    }
    std::string s = "(";
    for (int64_t i = 0; i < t->t.dim(); i++) s += (i ? ", " : "") + std::to_string(t->t.size(i));
    s += t->t.dim() == 1 ? ",)" : ")";
    ts_device d = ts_get_device(t);
    snprintf(buf, cap, "%s %s %s%s", s.c_str(), ts_dtype_name(ts_get_dtype(t)),
             d.type == TS_CUDA ? "cuda:" : d.type == TS_META ? "meta" : "cpu",
             d.type == TS_CUDA ? std::to_string(d.index).c_str() : "");
    return buf;
}

int ts_to_host(const ts_tensor *t, void *dst, size_t nbytes) {
    TS_NEED_STATUS(t);
    TS_NEED_STATUS(dst);
    TS_RETURN_STATUS({
        bool ok;
        ts_dtype dt = from_aten(t->t.scalar_type(), &ok);
        if (!ok) throw std::invalid_argument("unsupported dtype");
        size_t need = (size_t)t->t.numel() * ts_dtype_size(dt);
        if (need != nbytes)
            throw std::invalid_argument("destination holds " + std::to_string(nbytes) +
                                        " bytes, the tensor " + std::to_string(need));
        at::Tensor c = t->t.detach().to(at::kCPU).contiguous();
        if (need) std::memcpy(dst, c.data_ptr(), need);
    });
}

void *ts_data_ptr(ts_tensor *t) {
    TS_NEED(t);
    if (!t->t.is_contiguous()) {
        fail(__func__, "the tensor is not contiguous (call ts_contiguous first)");
        return nullptr;
    }
    try {
        return t->t.data_ptr();
    } catch (const c10::Error &e) {
        fail(__func__, e.what_without_backtrace());
    }
    return nullptr;
}

int ts_item_f64(const ts_tensor *t, double *out) {
    TS_NEED_STATUS(t);
    TS_RETURN_STATUS(*out = t->t.item<double>());
}

int ts_item_i64(const ts_tensor *t, int64_t *out) {
    TS_NEED_STATUS(t);
    TS_RETURN_STATUS(*out = t->t.item<int64_t>());
}

ts_tensor *ts_to_dtype(const ts_tensor *t, ts_dtype dt) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.to(to_aten(dt)));
}
ts_tensor *ts_to_device(const ts_tensor *t, ts_device dev) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.to(to_aten(dev)));
}
ts_tensor *ts_contiguous(const ts_tensor *t) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.contiguous());
}
ts_tensor *ts_clone(const ts_tensor *t) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.clone());
}
ts_tensor *ts_detach(const ts_tensor *t) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.detach());
}
ts_tensor *ts_alias(const ts_tensor *t) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t);
}

// ---- autograd ----

int ts_set_requires_grad(ts_tensor *t, int on) {
    TS_NEED_STATUS(t);
    TS_RETURN_STATUS(t->t.requires_grad_(on != 0));
}

int ts_requires_grad(const ts_tensor *t) { return t && t->t.requires_grad(); }

int ts_backward(const ts_tensor *loss) {
    TS_NEED_STATUS(loss);
    TS_RETURN_STATUS({
        if (loss->t.numel() != 1)
            throw std::invalid_argument("backward needs a one-element loss, got " +
                                        std::to_string(loss->t.numel()) + " elements");
        loss->t.backward();
    });
}

ts_tensor *ts_grad(const ts_tensor *t) {
    TS_NEED(t);
    if (!t->t.grad().defined()) {
        err_set("ts_grad: the tensor has no gradient (not a leaf that requires grad, or no "
                "backward reached it)");
        return nullptr;
    }
    TS_RETURN_TENSOR(t->t.grad());
}

int ts_has_grad(const ts_tensor *t) { return t && t->t.grad().defined(); }

int ts_grad_clear(ts_tensor *t) {
    TS_NEED_STATUS(t);
    TS_RETURN_STATUS(t->t.mutable_grad().reset());
}

static thread_local std::vector<bool> grad_mode_stack;

void ts_no_grad_begin(void) {
    grad_mode_stack.push_back(at::GradMode::is_enabled());
    at::GradMode::set_enabled(false);
}

void ts_no_grad_end(void) {
    if (grad_mode_stack.empty()) return;
    at::GradMode::set_enabled(grad_mode_stack.back());
    grad_mode_stack.pop_back();
}

int ts_grad_enabled(void) { return at::GradMode::is_enabled(); }

} // extern "C"

// ---- device placement (ts.h): host data onto a device, and the debug check ----

static std::atomic<int> device_check{-1}; // -1: not yet read from RLVR_TS_CHECK_DEVICES

extern "C" {

ts_tensor *ts_from_host(const void *data, const int64_t *shape, int ndim, ts_dtype dt, ts_device dev) {
    TS_NEED(data);
    TS_RETURN_TENSOR(at::from_blob(const_cast<void *>(data), shape_ref(shape, ndim),
                                   at::TensorOptions().dtype(to_aten(dt)))
                         .to(to_aten(dev), /*non_blocking=*/false, /*copy=*/true));
}

void ts_check_devices(int on) { device_check = on != 0; }

} // extern "C"

bool ts_detail::devices_differ(const char *fn, std::initializer_list<const ts_tensor *> ts) {
    int on = device_check.load();
    if (on < 0) {
        const char *e = std::getenv("RLVR_TS_CHECK_DEVICES");
        device_check = on = e && *e && std::strcmp(e, "0") != 0;
    }
    if (!on) return false;
    const ts_tensor *first = nullptr;
    for (const ts_tensor *t : ts) {
        if (!t) continue;
        if (!first) {
            first = t;
        } else if (t->t.device() != first->t.device()) {
            char a[96], b[96];
            std::string msg = std::string("inputs on different devices: ") + ts_describe(first, a, sizeof a) +
                              " and " + ts_describe(t, b, sizeof b) + " (RLVR_TS_CHECK_DEVICES)";
            fail(fn, msg.c_str());
            return true;
        }
    }
    return false;
}
