#!/usr/bin/env bash
# Reproduce the shipped synthetic STDiT3 (chai/data/synthetic/) with one command, from the repository root after
# `python -m pip install -e ".[all]"`:
#
#   bash research/reproduce_synthetic.sh [RUNS_DIR] [extra train flags, e.g. --threads 16 or --device cuda]
#
# Two stages, each resumable (re-run the same command after an interruption):
#   1. from scratch, fp32: 4,500 steps (about 61 minutes on two CPU cores), the first shipped model;
#   2. warm-started from stage 1's export, bf16 autocast, fewer two-object clips (0.1), 30,000 distinct clips,
#      16,000 steps (about 110 minutes on two AVX512-BF16 cores).
# The model to ship is RUNS_DIR/stage2/export (copy its three model files into chai/data/synthetic/, see
# research/README.md). bf16 sums are machine-dependent, so another CPU or a GPU gives close, not identical, weights.
set -euo pipefail
runs="${1:-runs}"
shift || true
python -m research.eval train --out "$runs/stage1" --steps 4500 --cooldown 1200 --lr 8e-4 --warmup 200 \
    --ema-decay 0.999 --num-clips 20000 --p-two 0.25 --precision fp32 --threads 2 "$@" --export "$runs/stage1/export"
python -m research.eval train --out "$runs/stage2" --init-from "$runs/stage1/export/stdit3_synthetic.safetensors" \
    --steps 16000 --cooldown 4000 --lr 8e-4 --warmup 200 --ema-decay 0.999 --num-clips 30000 --p-two 0.1 \
    --precision bf16 --threads 2 "$@" --export "$runs/stage2/export"
