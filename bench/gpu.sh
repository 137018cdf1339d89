#!/usr/bin/env bash
# Every GPU path measured in one go (docs/benchmarks.md, "GPU"): writes bench-gpu.json and prints a table.
# Uses the project's environment as it is (installs nothing): .venv if present, else python3.
#   bash bench/gpu.sh                    # all sections, real sizes, on cuda (about 5 minutes on one H100)
#   bash bench/gpu.sh --sections maxsim  # one section
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
exec "$PY" bench/gpu.py --device cuda --out "${OUT:-.}/bench-gpu.json" "$@"
