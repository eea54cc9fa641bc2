#!/usr/bin/env bash
# build — configure and build rlvr.c into build/ (or $1), warnings fatal. Extra arguments go to
# CMake, e.g. `scripts/build.sh build-asan -DRLVR_SANITIZE=address`.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRLVR_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
