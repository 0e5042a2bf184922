#!/usr/bin/env bash
# Reproduce the shipped synthetic STDiT3 (chai/data/synthetic/) with one command, from the repository root after
# `python -m pip install -e ".[all]"`:
#
#   bash research/reproduce_synthetic.sh [RUNS_DIR] [extra train flags, e.g. --threads 16 or --device cuda]
#
# One run from scratch, resumable (re-run the same command after an interruption): 4-frame clips in the "centred"
# world (the motion decides where the object starts, one object per clip), object pixels weighted x4 in the loss,
# timesteps drawn from sigmoid(N(0.5, 1)), half of the steps on still frames, the position table at
# input_sq_size=32; 8,500 steps of batch 16 with a 2,000-step cool-down, fp32 (97 minutes of training on two AVX2
# cores). The shipped run did its first 2,406 steps on one thread and the rest on two (the learning rate schedule
# is the same either way; fp32 sums on other thread counts or machines give close, not bit-identical, weights).
# docs/quality.md section 6 says why each change was made, and what the earlier two-stage recipe (8 frames,
# random positions) gave.
# The model to ship is RUNS_DIR/v3/export (copy its three model files into chai/data/synthetic/, see
# research/README.md).
set -euo pipefail
runs="${1:-runs}"
shift || true
python -m research.eval train --out "$runs/v3" --steps 8500 --cooldown 2000 --lr 8e-4 --warmup 200 \
    --ema-decay 0.999 --num-clips 30000 --p-two 0 --frames 4 --placement centred --object-weight 4 --t-shift 0.5 \
    --image-fraction 0.5 --precision fp32 --model-override input_sq_size=32 --threads 2 "$@" --export "$runs/v3/export"
