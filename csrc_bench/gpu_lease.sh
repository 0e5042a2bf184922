#!/usr/bin/env bash
# One device-lease run: the gpu test tier, a launch-config sweep, then the kernel microbenchmarks.
# Usage on a CUDA machine, from the repository root:  CHAI_GIT_SHA=<sha> OUT=/some/dir bash csrc_bench/gpu_lease.sh [quick]
# It uses the machine's own torch/triton (no install) and imports the repo through PYTHONPATH.
# The rows land in csrc_bench/results/<device>.csv/.json (copied to $OUT to bring them back).
set -o pipefail
OUT=${OUT:-/tmp/chai_gpu_out}; mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
P="sdpa-concat chai-triton chai-triton-int8 flex xformers-concat"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/device.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/device.txt"
echo "== gpu test tier"
timeout 120 python3 -m pytest tests/kernels -m gpu -q -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.log" | tail -8
echo "== launch-config sweep"
timeout 80 python3 -m csrc_bench.tune_cache_attention --shapes 480p-spatial --fracs 1 0.25 2>&1 | tee "$OUT/tune.log" | tail -16
if [ "$1" != quick ]; then
  echo "== latent quant bench"
  timeout 90 python3 -m csrc_bench.bench_latent_quant --write 2>&1 | tee "$OUT/bench_quant.log" | tail -3
fi
echo "== cache attention bench"
timeout 110 python3 -m csrc_bench.bench_cache_attention --shapes 240p-spatial 480p-spatial 240p-temporal --providers $P 2>&1 | tee "$OUT/bench_attn_a.log" | grep -E "chai-triton |sdpa-concat" | cut -c1-200
if [ "$1" != quick ]; then
  timeout 150 python3 -m csrc_bench.bench_cache_attention --shapes 360p-spatial 720p-spatial 480p-temporal --providers $P 2>&1 | tee "$OUT/bench_attn_b.log" | tail -3
fi
cp csrc_bench/results/nvidia* "$OUT/" 2>/dev/null
ls "$OUT"
