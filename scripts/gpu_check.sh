#!/usr/bin/env bash
# Prepared GPU check of the PTB experiment (issue 5): at most ~8 minutes on one H200.
#   1. a few CUDA steps (strict fp32 and TF32) against the same CPU steps;
#   2. paper-scale full-batch step time and achieved FLOP/s as a fraction of the H200 TF32 peak;
#   3. as many paper-scale AdamW and Adam-l2 (summed loss) steps at beta=(0.99,0.99), lambda=1 as fit.
# Results: $OUT/ptb_gpu (when $OUT is set, e.g. on the project's device machine) else
# book/results/ptb/gpu/.  Data: $PTB_DIR, else the user cache, else a verified download.
# Usage: bash scripts/gpu_check.sh [extra arguments of scripts/gpu_check.py]
# On a machine without network access (e.g. the project's lent GPU machine), put the three files
# in runs/ptb/ first (git-ignored: `mkdir -p runs/ptb && cp /work/shared/data/ptb/ptb.*.txt runs/ptb/`),
# send that folder along with the working tree, and this script finds it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
if [ -z "${PTB_DIR:-}" ] && [ -d ../shared/data/ptb ]; then export PTB_DIR=$(cd ../shared/data/ptb && pwd); fi
if [ -z "${PTB_DIR:-}" ] && [ -d shared/data/ptb ]; then export PTB_DIR=$(cd shared/data/ptb && pwd); fi
if [ -z "${PTB_DIR:-}" ] && [ -f runs/ptb/ptb.train.txt ]; then export PTB_DIR=$(cd runs/ptb && pwd); fi
DEST=${OUT:+$OUT/ptb_gpu}
DEST=${DEST:-book/results/ptb/gpu}
mkdir -p "$DEST"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$DEST/nvidia-smi.txt" || true
# 450 s of work inside an 8-minute (480 s) envelope; PYTHONPATH covers a checkout without an install
PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} timeout 480 "$PY" scripts/gpu_check.py --device cuda \
    --budget-s 420 --out "$DEST" "$@" 2>&1 | tee "$DEST/gpu_check.log"
