#!/usr/bin/env bash
# The GPU check: clapbench end to end and the model's bare forward, fp32 and bf16, on one device (under 5 minutes
# on one H100/H200 with the defaults: a full-size random ClapModel, 2000 clips of 5 s). Installs nothing beyond the
# project: run it where `pip install -e .` has been done. Options go to benchmarks/gpu_check.py (--help).
#   bash benchmarks/gpu.sh                                   # cuda
#   bash benchmarks/gpu.sh --device cpu --model tiny --clips 40
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_VERBOSITY=error
exec python3 benchmarks/gpu_check.py "$@"
