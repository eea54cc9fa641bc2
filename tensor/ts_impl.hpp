// ts_impl — what the tensor/ translation units share: the handle struct, conversions between
// our enums and ATen's, and the boundary macros that turn every C++ exception into an error
// message. Private to tensor/.
#ifndef RLVR_TS_IMPL_HPP
#define RLVR_TS_IMPL_HPP

#include "tensor/ts.h"

#include <ATen/ATen.h>

#include <initializer_list>

struct ts_tensor {
    at::Tensor t;
    ts_tensor *prev, *next; // links in the owning scope's list
    int depth;              // 0 = not in a scope, else 1-based scope level
};

struct ts_generator {
    at::Generator g;
};

namespace ts_detail {

ts_tensor *wrap(at::Tensor t);
void fail(const char *fn, const char *what);
ts_tensor *null_arg(const char *fn, const char *arg);
int null_arg_status(const char *fn, const char *arg);
at::ScalarType to_aten(ts_dtype dt);
ts_dtype from_aten(at::ScalarType st, bool *ok);
at::Device to_aten(ts_device dev);
at::IntArrayRef shape_ref(const int64_t *shape, int ndim);
// The device check (ts_check_devices): with it on and two of ts (NULLs skipped) on different
// devices, records the failure of fn and returns true.
bool devices_differ(const char *fn, std::initializer_list<const ts_tensor *> ts);
// The builds of our CPU kernels (ts_attention.cpp, ts_sample.cpp, ts_optim.cpp, ts_linear.cpp)
// that run: the best this CPU runs, or the one RLVR_CPU_KERNELS=default|avx2|avx512 forces; throws
// for a bad value or one the CPU cannot run. Kernels without an AVX-512 build run their AVX2 one
// under avx512. TS_HAVE_AVX2_CLONE says whether this compiler and target build the clones at all.
enum ts_kernels { TS_KERNELS_DEFAULT, TS_KERNELS_AVX2, TS_KERNELS_AVX512 };
ts_kernels cpu_kernels();
inline bool cpu_kernels_avx2() { return cpu_kernels() >= TS_KERNELS_AVX2; }
// y = x W^T (+ b) by ts_linear.cpp's kernel into out, when x has few rows, nothing needs a gradient
// and everything is f32 on the CPU; false (out untouched) when the kernel does not apply.
bool linear_few_rows(const at::Tensor &x, const at::Tensor &w, const at::Tensor *b, at::Tensor &out);
#if defined(__x86_64__) && defined(__GNUC__)
#define TS_HAVE_AVX2_CLONE 1
#endif
#define TS_INLINE inline __attribute__((always_inline))

} // namespace ts_detail

// Body of a tensor-returning C function: evaluates expr inside try, wraps the result.
#define TS_RETURN_TENSOR(expr)                                                     \
    try {                                                                          \
        return ts_detail::wrap(expr);                                              \
    } catch (const c10::Error &e) {                                                \
        ts_detail::fail(__func__, e.what_without_backtrace());                     \
    } catch (const std::exception &e) {                                           \
        ts_detail::fail(__func__, e.what());                                       \
    } catch (...) {                                                                \
        ts_detail::fail(__func__, "unknown C++ exception");                        \
    }                                                                              \
    return nullptr

// Body of a status-returning C function: runs stmt inside try; 0 on success, -1 on exception.
#define TS_RETURN_STATUS(stmt)                                                     \
    try {                                                                          \
        stmt;                                                                      \
        return 0;                                                                  \
    } catch (const c10::Error &e) {                                                \
        ts_detail::fail(__func__, e.what_without_backtrace());                     \
    } catch (const std::exception &e) {                                            \
        ts_detail::fail(__func__, e.what());                                       \
    } catch (...) {                                                                \
        ts_detail::fail(__func__, "unknown C++ exception");                        \
    }                                                                              \
    return -1

#define TS_NEED(x)                                                                 \
    do {                                                                           \
        if (!(x)) return ts_detail::null_arg(__func__, #x);                        \
    } while (0)
#define TS_NEED_STATUS(x)                                                          \
    do {                                                                           \
        if (!(x)) return ts_detail::null_arg_status(__func__, #x);                 \
    } while (0)

#endif
