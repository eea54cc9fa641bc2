#!/usr/bin/env bash
# shellcheck disable=SC2317 # the stage functions are called through stage()
# gpu_check — rlvr.c's device path on a machine with an NVIDIA GPU, in about 10 minutes on one
# H200. Stages, each timed, its output in LOGS/STAGE.log:
#   build     rlvr.c against the machine's CUDA libtorch (the one inside pip's torch)
#   unit      the C tests that take a device (test_tensor, test_loss, test_optim, test_model's
#             reference cases, test_rollout) with RLVR_TEST_DEVICE=cuda (tests/check_device.h)
#   rl-f32    20 RL steps of configs/demo.json on the GPU from a fresh `rlvr init-model` (no SFT;
#   rl-bf16   the cosine length reward added, so that the untrained model's all-wrong groups still
#             differ and the updates are not zero), in f32 and in bf16: the run completes, every
#             step's reward, loss and gradient norm are finite, some gradient is not zero; the
#             step times are printed
#   rollout   bench/bench_rollout.sh at the Qwen2.5-0.5B shape: `rlvr bench rollout` against its
#             PyTorch eager twin (bench/rollout_ref.py) on the same GPU, in one run
#   nccl      test_dist's workers with CUDA tensors over NCCL: exact all-reduce/broadcast results
#             across bucket edges, two runs with the same bits, and (with 2 GPUs) the replica-
#             mismatch error; 2 ranks when 2 GPUs are visible, else 1 (NCCL needs a GPU per rank)
# A failing stage is reported with the tail of its log and the others still run (those that need
# the build are skipped when it fails); a table of the stages ends the run, and the exit status is
# 1 when any failed.
#
# Usage: scripts/gpu_check.sh   (env: DEVICE, PYTHON, BUILD, LOGS, NCCL_LIB, DEPS)
#   DEVICE=cpu scripts/gpu_check.sh runs the same stages on the CPU build (BUILD, default build/,
#   configured as scripts/build.sh does when it is not yet), NCCL skipped and the rollout at a
#   small shape: a smoke test of this script on a machine without a GPU, in a few minutes.
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
cd "$root"
device=${DEVICE:-cuda}
logs=${LOGS:-$(mktemp -d /tmp/gpu_check.XXXXXX)}
mkdir -p "$logs"
targets=(rlvr test_tensor test_loss test_optim test_model test_rollout test_dist)

if [ "$device" = cpu ]; then
  py=${PYTHON:-/usr/bin/python3}
  build=${BUILD:-$root/build}
  ngpu=0
else
  py=${PYTHON:-python3}
  build=${BUILD:-$root/build-gpu}
  ngpu=$("$py" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)')
  [ "$ngpu" -ge 1 ] || { echo "gpu_check: this torch ($("$py" -c 'import torch; print(torch.__version__)')) sees no GPU" >&2; exit 1; }
fi
bin=$build/rlvr
echo "gpu_check: device $device, build $build, python $py, logs in $logs"

if [ -n "${DEPS:-}" ]; then
  arch=$(uname -m)-linux-gnu
  export PKG_CONFIG_PATH="$DEPS/usr/lib/$arch/pkgconfig:$DEPS/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export PKG_CONFIG_SYSROOT_DIR=$DEPS
  export LD_LIBRARY_PATH="$DEPS/usr/lib/$arch:$DEPS/usr/lib/$arch/openmpi/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PATH="$DEPS/usr/bin:$PATH"
  export OPAL_PREFIX=$DEPS/usr
  export C_INCLUDE_PATH="$DEPS/usr/include/hdf5/serial${C_INCLUDE_PATH:+:$C_INCLUDE_PATH}"
fi
if [ "$device" != cpu ]; then
  # NCCL: the copy pip installed next to torch, else the loader's libnccl.so.2; the CUDA runtime
  # and NCCL pip installed must be on the loader path for libtorch and dlopen
  nccl=${NCCL_LIB:-$("$py" -c 'import os, nvidia.nccl as n; print(os.path.join(list(n.__path__)[0], "lib", "libnccl.so.2"))' 2>/dev/null || echo libnccl.so.2)}
  pylibs=$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
  nccl_dir=$(dirname "$nccl")
  export LD_LIBRARY_PATH="$pylibs:$nccl_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# ---- the stages: each a function run with errexit in a subshell; it may write a one-line note
# for the table to $logs/STAGE.note ----

build_rlvr() {
  if [ "$device" = cpu ]; then
    [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRLVR_WERROR=ON
  else
    local torch_dir
    torch_dir=$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRLVR_LIBTORCH="$torch_dir" \
      -DCMAKE_PREFIX_PATH="${DEPS:+$DEPS/usr}"
  fi
  cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
  "$bin" doctor | grep -E '^(libtorch|devices):' | tee "$logs/build.note"
}

unit_tests() {
  cd "$build"
  RLVR_TEST_DEVICE=$device ctest -R '^test_(tensor|loss|optim|model|rollout)$' --output-on-failure --timeout 300
  grep -h 'tests passed' "$logs/unit.log" > "$logs/unit.note" || true
}

# rl_steps DTYPE: 20 steps of the demo config on $device, then the metrics checked and summed up
rl_steps() {
  local dtype=$1 d=$logs/rl-$1
  rm -rf "$d"
  "$bin" init-model --arch qwen2 --out "$d/init" --hidden 64 --layers 2 --heads 4 --tie --seed 1 > /dev/null
  timeout 300 "$bin" train configs/demo.json --set run.dir="$d/run" --set model.path="$d/init" \
    --set model.device="$device" --set model.dtype="$dtype" --set train.steps=20 --set train.save_every=0 \
    --set train.log_every=5 --set train.eval_every=0 --set reward.cosine.weight=1 --set reward.cosine.max_len=64
  "$py" - "$d/run/metrics.jsonl" "$logs/rl-$dtype.note" <<'PYEOF'
import json, math, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
bad = [(r["step"], k) for r in rows for k in ("reward", "pg_loss", "grad_norm")
       if not isinstance(r.get(k), (int, float)) or not math.isfinite(r[k])]
t = [r["step_s"] for r in rows]
print("step_s: " + " ".join("%.2f" % x for x in t))
note = "%d steps, step %.2f s median (first %.2f), reward %.3f -> %.3f, grad norm max %.3g" % (
    len(rows), statistics.median(t), t[0], rows[0]["reward"] or 0, rows[-1]["reward"] or 0,
    max((r["grad_norm"] or 0) for r in rows))
open(sys.argv[2], "w").write(note + "\n")
print(note)
if len(rows) != 20 or bad or not any(r["grad_norm"] > 0 for r in rows if not bad):
    sys.exit("gpu_check: expected 20 steps with finite reward, pg_loss and grad_norm, not all gradients 0; "
             "got %d steps, not finite: %s" % (len(rows), bad))
PYEOF
}

rollout_bench() {
  if [ "$device" = cpu ]; then # a smoke run: the small shape, one repeat
    SHAPES=small REPEATS=1 P=2 G=4 N=16 DEVICE=cpu PYTHON="$py" bash bench/bench_rollout.sh "$bin"
  else # the 0.5B shape at 8 prompts x 8 samples of 128 new tokens: enough rows to load a GPU
    SHAPES=qwen0.5b REPEATS=3 P2_05B=8 G_05B=8 N_05B=128 DEVICE="$device" PYTHON="$py" \
      bash bench/bench_rollout.sh "$bin"
  fi
  grep -E '^(small|qwen0.5b) ' "$logs/rollout.log" | awk '{print $1 ": rlvr " $3 " tok/s, eager twin " $4 " tok/s, " $5}' \
    > "$logs/rollout.note"
}

nccl_check() {
  local np=$((ngpu >= 2 ? 2 : 1)) a b
  local mpirun=(timeout 300 mpirun -np "$np" --bind-to none)
  [ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
  local t=$build/test_dist nccl_set=(dist.backend=nccl "dist.nccl_lib=$nccl")
  echo "gpu_check: $ngpu GPU(s), $np rank(s), NCCL from $nccl"
  RLVR_NCCL_LIB=$nccl "$t" # single-process tests, the loader on this machine's NCCL included
  "${mpirun[@]}" "$t" worker collectives "${nccl_set[@]}" dist.bucket_mb=0.0001
  "${mpirun[@]}" "$t" worker collectives "${nccl_set[@]}"
  a=$("${mpirun[@]}" "$t" worker digest "${nccl_set[@]}" | grep -E '^(digest|value)')
  b=$("${mpirun[@]}" "$t" worker digest "${nccl_set[@]}" | grep -E '^(digest|value)')
  [ "$a" = "$b" ] || { echo "gpu_check: two NCCL runs differ:"; diff <(echo "$a") <(echo "$b"); return 1; }
  echo "gpu_check: two NCCL runs gave the same bits ($(echo "$a" | head -1))"
  if [ "$np" -eq 2 ]; then
    "${mpirun[@]}" "$t" worker mismatch "${nccl_set[@]}"
    echo "$np ranks: all-reduce, broadcast, same bits twice, replica mismatch" > "$logs/nccl.note"
  else
    echo "1 rank: all-reduce, broadcast, same bits twice (the mismatch test needs 2 GPUs)" > "$logs/nccl.note"
  fi
}

# ---- running them ----

names=() status=() secs=()
# stage NAME FUNCTION ARGS...: run it, timed, its output shown and kept in $logs/NAME.log
stage() {
  local name=$1 t0=$SECONDS rc
  shift
  echo "=== gpu_check: $name"
  rm -f "$logs/$name.note"
  set +e
  ( set -e; "$@" ) 2>&1 | tee "$logs/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  names+=("$name")
  secs+=($((SECONDS - t0)))
  if [ "$rc" -eq 0 ]; then
    status+=(ok)
  else
    status+=("FAILED ($rc)")
    echo "=== gpu_check: stage $name FAILED with status $rc after $((SECONDS - t0)) s; the end of $logs/$name.log:" >&2
    tail -20 "$logs/$name.log" >&2
  fi
  return 0
}
skip() { # NAME WHY
  names+=("$1")
  status+=(skipped)
  secs+=(0)
  echo "$2" > "$logs/$1.note"
}

stage build build_rlvr
if [ "${status[0]}" = ok ]; then
  stage unit unit_tests
  stage rl-f32 rl_steps f32
  stage rl-bf16 rl_steps bf16
  stage rollout rollout_bench
  if [ "$device" = cpu ]; then skip nccl "DEVICE=cpu: NCCL needs a GPU"; else stage nccl nccl_check; fi
else
  for s in unit rl-f32 rl-bf16 rollout nccl; do skip "$s" "the build failed"; done
fi

echo
echo "gpu_check on $device ($(hostname), $ngpu GPU(s)); logs in $logs"
printf '%-8s %-12s %6s  %s\n' stage status seconds note
failed=0
for i in "${!names[@]}"; do
  note="see $logs/${names[$i]}.log"
  [ -f "$logs/${names[$i]}.note" ] && note=$(tr '\n' ';' < "$logs/${names[$i]}.note" | sed 's/;$//; s/;/; /g')
  printf '%-8s %-12s %6d  %s\n' "${names[$i]}" "${status[$i]}" "${secs[$i]}" "$note"
  [ "${status[$i]}" = ok ] || [ "${status[$i]}" = skipped ] || failed=1
done
exit "$failed"
