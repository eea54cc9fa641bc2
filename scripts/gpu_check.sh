#!/usr/bin/env bash
# gpu_check — the NCCL path of dist/ on a machine with NVIDIA GPUs: builds rlvr.c against the
# machine's CUDA libtorch (the one inside pip's torch) and runs test_dist's workers with CUDA
# tensors over NCCL: exact all-reduce/broadcast results across bucket edges, two runs with the
# same bits, and (with 2 GPUs or more) the replica-mismatch error. Uses 2 ranks when 2 GPUs are
# visible, else 1 (NCCL needs one GPU per rank). The CPU suite (ctest) cannot reach this path.
#
# Usage: scripts/gpu_check.sh            (env: PYTHON, BUILD, NCCL_LIB, DEPS)
#
# Needs: python3 with a CUDA build of torch (its libtorch is imported with -DRLVR_LIBTORCH, no CUDA
# toolkit needed: cmake/Libtorch.cmake), cmake, a C/C++ compiler, and rlvr.c's other build
# dependencies.
# Where HDF5, cJSON, OpenMPI, PCRE2 or utf8proc are missing and apt is not available, bring the
# Debian 12 packages as .deb files and unpack them without root into one folder:
#   apt-get download libhdf5-dev libhdf5-103-1 libhdf5-hl-100 libsz2 libaec0 libcjson-dev libcjson1 \
#     libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common libpmix2 libevent-core-2.1-7 \
#     libevent-pthreads-2.1-7 libhwloc15 libpcre2-dev libpcre2-8-0 libutf8proc-dev libutf8proc2
#   (on another Debian 12 machine; copy the .deb files over)
#   for f in *.deb; do dpkg -x "$f" "$HOME/rlvr-deps"; done
#   DEPS=$HOME/rlvr-deps scripts/gpu_check.sh
# DEPS is added to CMAKE_PREFIX_PATH, pkg-config's path, the loader path and OpenMPI's prefix.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
build=${BUILD:-$root/build-gpu}

torch_dir=$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
ngpu=$("$py" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)')
[ "$ngpu" -ge 1 ] || { echo "gpu_check: this torch ($("$py" -c 'import torch; print(torch.__version__)')) sees no GPU" >&2; exit 1; }

prefix=""
if [ -n "${DEPS:-}" ]; then
  arch=$(uname -m)-linux-gnu
  prefix="$DEPS/usr"
  export PKG_CONFIG_PATH="$DEPS/usr/lib/$arch/pkgconfig:$DEPS/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export PKG_CONFIG_SYSROOT_DIR=$DEPS
  export LD_LIBRARY_PATH="$DEPS/usr/lib/$arch:$DEPS/usr/lib/$arch/openmpi/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PATH="$DEPS/usr/bin:$PATH"
  export OPAL_PREFIX=$DEPS/usr
  export C_INCLUDE_PATH="$DEPS/usr/include/hdf5/serial${C_INCLUDE_PATH:+:$C_INCLUDE_PATH}"
fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRLVR_LIBTORCH="$torch_dir" -DCMAKE_PREFIX_PATH="$prefix"
cmake --build "$build" -j "$(nproc)" --target rlvr test_dist

# NCCL: the copy pip installed next to torch, else the loader's libnccl.so.2
nccl=${NCCL_LIB:-$("$py" -c 'import os, nvidia.nccl as n; print(os.path.join(list(n.__path__)[0], "lib", "libnccl.so.2"))' 2>/dev/null || echo libnccl.so.2)}
# the CUDA runtime and NCCL pip installed must be on the loader path for libtorch and dlopen
pylibs=$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$pylibs:$(dirname "$nccl")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

np=$(( ngpu >= 2 ? 2 : 1 ))
mpirun=(mpirun -np "$np" --bind-to none)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
bin=$build/test_dist
echo "gpu_check: $ngpu GPU(s), $np rank(s), NCCL from $nccl"

RLVR_NCCL_LIB=$nccl "$bin"   # single-process tests, the loader on this machine's NCCL included
nccl_set=(dist.backend=nccl "dist.nccl_lib=$nccl")
timeout 300 "${mpirun[@]}" "$bin" worker collectives "${nccl_set[@]}" dist.bucket_mb=0.0001
timeout 300 "${mpirun[@]}" "$bin" worker collectives "${nccl_set[@]}"
a=$(timeout 300 "${mpirun[@]}" "$bin" worker digest "${nccl_set[@]}" | grep -E '^(digest|value)')
b=$(timeout 300 "${mpirun[@]}" "$bin" worker digest "${nccl_set[@]}" | grep -E '^(digest|value)')
[ "$a" = "$b" ] || { echo "gpu_check: two NCCL runs differ:"; diff <(echo "$a") <(echo "$b"); exit 1; }
echo "gpu_check: two NCCL runs gave the same bits ($(echo "$a" | head -1))"
if [ "$np" -eq 2 ]; then
  timeout 300 "${mpirun[@]}" "$bin" worker mismatch "${nccl_set[@]}"
else
  echo "gpu_check: one GPU: the 2-rank NCCL run and the mismatch test need a second GPU"
fi
echo "gpu_check: NCCL path passed"
