#!/usr/bin/env bash
# GPU validation in under 8 minutes on one H100/H200: correctness on the GPU for every implementation,
# a short sweep with CUDA-event timing, and a timing cross-check against triton.testing.do_bench.
# Full results go to $ATTNBENCH_OUT (default results/gpu_check); compact tables are printed last.
#   scripts/gpu_check.sh [--device cuda:N] [--budget-s 450] [--dry-run] [--device cpu --quick]
# Details: docs/devices.md and scripts/gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" scripts/gpu_check.py "$@"
