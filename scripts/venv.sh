#!/usr/bin/env bash
# venv — the project's Python virtual environment: the pinned packages of scripts/requirements.txt
# (torch, whose libtorch the 2.x build links against) in a venv made by Debian's python3 -m venv
# (package python3-venv, scripts/setup.sh). Never installs into the system Python. Idempotent.
#
# One environment per machine and requirements file, shared by every checkout:
# ~/.cache/rlvr/venv-<hash of the requirements> (or $RLVR_VENV). Torch's wheels unpack to 5.3 GB,
# and a new checkout (CI) then finds its environment ready; a changed requirements file gets a new
# one, so no checkout's build sees its libtorch replaced. A lock serialises concurrent runs.
# Wheels are kept in ~/.cache/rlvr/wheels (or $RLVR_WHEELS) and installed from there: PyPI's
# responses reach this machine without caching headers, so pip's own cache keeps none of them.
# Only what the kept wheels lack is downloaded.
#
# Usage: scripts/venv.sh               create or complete the environment, print its path
#        scripts/venv.sh --torch-dir   the same, then print the libtorch prefix of its torch instead
#                                      (the torch/ folder: -DRLVR_LIBTORCH=DIR)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
req=$root/scripts/requirements.txt
cache=$HOME/.cache/rlvr
venv=${RLVR_VENV:-$cache/venv-$(grep -v '^#' "$req" | sha256sum | cut -c1-12)}
wheels=${RLVR_WHEELS:-$cache/wheels}
case "${1:-}" in
  "" | --torch-dir) ;;
  *) echo "venv.sh: unknown option '$1' (expected nothing or --torch-dir)" >&2; exit 2 ;;
esac

mkdir -p "$(dirname "$venv")"
exec 9> "$venv.lock"
flock 9
if [ -e "$venv" ] && ! cmp -s "$req" "$venv/rlvr-requirements.txt" && ! "$venv/bin/python" -m pip --version > /dev/null 2>&1; then
  rm -rf "$venv" # an interrupted creation
fi
if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv "$venv" ||
    { echo "venv.sh: /usr/bin/python3 -m venv $venv failed (python3-venv: run scripts/setup.sh)" >&2; exit 1; }
fi
# a copy of the requirements last installed in full: when it matches, pip is not run at all
if ! cmp -s "$req" "$venv/rlvr-requirements.txt"; then
  pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
  if ! "${pip[@]}" install --no-index --find-links "$wheels" -r "$req" 2> /dev/null; then
    mkdir -p "$wheels"
    echo "venv.sh: downloading what $wheels lacks of $req" >&2
    "${pip[@]}" download -d "$wheels" -r "$req"
    "${pip[@]}" install --no-index --find-links "$wheels" -r "$req"
  fi
  cp "$req" "$venv/rlvr-requirements.txt"
fi
if [ "${1:-}" = --torch-dir ]; then
  # where torch is, without importing it
  "$venv/bin/python" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("torch").origin))'
else
  echo "$venv"
fi
