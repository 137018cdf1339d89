#!/usr/bin/env bash
# A separate benchmark environment for fast-plaid (PyLate's PLAID engine), which cannot share
# mire-eval's environment: its wheels are built per torch version (1.7.0.2110 -> torch 2.11.0),
# and torch 2.11.0 on the registry is the CUDA build (measured 2026-11-30: 2.6 GB of wheels
# with its nvidia-* dependencies, about 6 GB installed). mire-eval itself is not installed
# there: bench/bench_plaid.py only needs numpy + fast-plaid and reads the .npy files that
# bench/bench_ann.py writes.
#
#   bash bench/plaid_env.sh [VENV]          # default bench/.plaid-venv (git-ignored)
#   bench/.plaid-venv/bin/python bench/bench_plaid.py --data DIR
#
# PIP_FIND_LINKS=DIR reuses wheels already downloaded with `pip download fast-plaid==1.7.0.2110`.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${1:-$HERE/.plaid-venv}"
PYTHON="${PYTHON:-python3.11}"
FAST_PLAID="${FAST_PLAID:-1.7.0.2110}"
TORCH="${TORCH:-2.11.0}"   # the torch that fast-plaid $FAST_PLAID's wheel is built against

need=$((8 * 1024 * 1024))   # KiB: 6 GB installed + pip's cache
free=$(df -Pk "$(dirname "$VENV")" | awk 'NR==2 {print $4}')
if [ "$free" -lt "$need" ]; then
  echo "error: $(dirname "$VENV"): needs 8 GiB free for the fast-plaid environment, $((free / 1048576)) GiB free" >&2
  exit 2
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "torch==$TORCH" "fast-plaid==$FAST_PLAID" numpy
"$VENV/bin/python" -c "import torch, fast_plaid; print('fast-plaid env ok: torch', torch.__version__)"
