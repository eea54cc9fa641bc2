#!/usr/bin/env bash
# test_cpu_variants — the numeric tests on every CPU code path this machine can run, so that a
# tolerance that holds only for the kernels one CPU picks cannot hide: OpenBLAS's GEMM kernels
# (OPENBLAS_CORETYPE), ATen's vectorised kernels (ATEN_CPU_CAPABILITY) and the clones of our own
# kernels (RLVR_CPU_KERNELS: tensor/ts_attention.cpp, ts_sample.cpp, ts_optim.cpp, ts_linear.cpp).
# Every supported pair of BLAS and ATen paths runs the tensor, loss, optimiser and rollout tests, our clones alternating; the model
# test runs once per BLAS path and once per ATen path. A path the CPU lacks is skipped and named.
# Every run is on the CPU (RLVR_TEST_DEVICE=cpu, whatever the caller's); a value of it that names
# no device, or a CUDA device the machine lacks, is one message and exit 2 in each of those tests.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=$(dirname "$RLVR")
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for f in "$@"; do [[ "$flags" == *" $f "* ]] || return 1; done; }

blas=(Nehalem)
has avx && blas+=(Sandybridge)
has avx2 fma && blas+=(Haswell)
has avx512f avx512bw avx512vl avx512dq && blas+=(SkylakeX)
has avx512f avx512bw avx512vl avx512dq avx512_bf16 && blas+=(Cooperlake)
aten=(default)
has avx2 fma && aten+=(avx2)
has avx512f avx512bw avx512vl avx512dq && aten+=(avx512)
ours=(default)
has avx2 && ours+=(avx2)
has avx512f && ours+=(avx512)
echo "test_cpu_variants: BLAS ${blas[*]}; ATen ${aten[*]}; our kernels ${ours[*]}"

# run NAME ENV...: one test program under the given environment
run() {
  local t=$1
  shift
  local out
  if out=$(env RLVR_TEST_DEVICE=cpu "$@" "$bin/$t" 2>&1); then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAILED: $t under $*" >&2
    echo "$out" | grep -E "FAILED|gap|error" | head -5 >&2
  fi
}

i=0
for b in "${blas[@]}"; do
  for a in "${aten[@]}"; do
    k=${ours[$((i % ${#ours[@]}))]}
    i=$((i + 1))
    for t in test_tensor test_loss test_optim test_rollout; do
      run "$t" OPENBLAS_CORETYPE="$b" ATEN_CPU_CAPABILITY="$a" RLVR_CPU_KERNELS="$k"
    done
  done
  run test_model OPENBLAS_CORETYPE="$b" ATEN_CPU_CAPABILITY="${aten[-1]}"
done
for a in "${aten[@]::${#aten[@]}-1}"; do
  run test_model OPENBLAS_CORETYPE="${blas[-1]}" ATEN_CPU_CAPABILITY="$a"
done
for t in test_tensor test_loss test_optim test_model test_rollout; do
  expect 2 "RLVR_TEST_DEVICE=gpu: bad device 'gpu': expected cpu, cuda or cuda:N" -- env RLVR_TEST_DEVICE=gpu "$bin/$t"
done
expect 2 "RLVR_TEST_DEVICE=cuda:99: this process sees" -- env RLVR_TEST_DEVICE=cuda:99 "$bin/test_rollout"
finish test_cpu_variants
