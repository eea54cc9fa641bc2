#!/usr/bin/env bash
# test — the whole test suite, from a fresh Debian 12 machine: install what is needed, build with
# warnings fatal against Debian's libtorch 1.13 and run every test; build against the libtorch 2.x
# of PyPI's torch wheel (scripts/venv.sh) and run them again, but for those labelled "once"
# (CMakeLists.txt: the command line's and scripts' end-to-end tests), with the oracle tests
# (tests/oracle_*.py: transformers, tokenizers, safetensors, Math-Verify, TRL and TensorBoard from
# the same environment, against our files and numbers); then build with AddressSanitizer +
# UndefinedBehaviorSanitizer (LeakSanitizer included) and run them there too, "once" and "twice"
# (the training runs but test_train_mpi's) aside; last, build every libFuzzer target and replay its
# corpus.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
bash scripts/setup.sh
bash scripts/build.sh build
(cd build && ctest --output-on-failure -j 2)
# libtorch 2.x: the same suite against the libtorch of PyPI's torch wheel (scripts/venv.sh), and
# the oracle tests run by that environment's python
torch_dir=$(bash scripts/venv.sh --torch-dir)
bash scripts/build.sh build-torch2 -DRLVR_LIBTORCH="$torch_dir" -DRLVR_PYTHON="$(bash scripts/venv.sh)/bin/python"
(cd build-torch2 && ctest --output-on-failure -j 2 -LE once)
bash scripts/build.sh build-asan -DRLVR_SANITIZE=address
# libtorch and OpenMPI allocate process-lifetime singletons; tests/lsan.supp names them.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_odr_violation=0
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j 2 -LE 'once|twice')
# every libFuzzer target builds (clang) and replays its committed corpus, so none can rot
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DRLVR_FUZZ=ON -DRLVR_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz
(cd build-fuzz && ctest --output-on-failure -j 2)
echo "test.sh: all tests passed in $(( $(date +%s) - t0 )) s"
