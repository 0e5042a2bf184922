#!/usr/bin/env bash
# One device-lease run, sized for a 15-minute lease (about 10 minutes of commands): the gpu test tier, a
# launch-config sweep (with what triton.autotune picks), then the kernel microbenchmarks with every baseline of
# the same run, the ratios and the GPU targets of docs/benchmarks.md printed as met / not met.
#
# Usage on a CUDA machine, from the repository root:
#   CHAI_GIT_SHA=<sha> OUT=/some/dir bash csrc_bench/gpu_lease.sh [quick]
# It uses the machine's own torch / triton (no install; the lent H100 / H200 image has had torch 2.11 with
# triton 3.6, below the range pyproject.toml declares: every row records the versions it ran with) and imports
# the repo through PYTHONPATH. Rows land in csrc_bench/results/<device>.csv / .json and are copied to $OUT;
# commit them with the SHA they measured. `quick` skips the latent-quant bench and the larger shapes.
set -o pipefail
OUT=${OUT:-/tmp/chai_gpu_out}; mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
P="sdpa-concat sdpa-boolmask flex xformers-concat chai-triton chai-triton-unprepared chai-triton-int8"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/device.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/device.txt"
echo "== gpu test tier"
timeout 150 python3 -m pytest tests/kernels -m gpu -q -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.log" | tail -8
echo "== launch-config sweep (480p, prepared cache)"
timeout 90 python3 -m csrc_bench.tune_cache_attention --shapes 480p-spatial --fracs 1 0.25 2>&1 | tee "$OUT/tune.log" | tail -16
if [ "$1" != quick ]; then
  echo "== latent quant bench"
  timeout 60 python3 -m csrc_bench.bench_latent_quant --write 2>&1 | tee "$OUT/bench_quant.log" | tail -3
fi
echo "== cache attention bench: 240p / 480p spatial, 240p temporal (all fractions, all baselines)"
timeout 150 python3 -m csrc_bench.bench_cache_attention --shapes 240p-spatial 480p-spatial 240p-temporal --providers $P 2>&1 \
  | tee "$OUT/bench_attn_a.log" | sed -n '/== chai-triton against/,$p'
if [ "$1" != quick ]; then
  timeout 150 python3 -m csrc_bench.bench_cache_attention --shapes 360p-spatial 720p-spatial 480p-temporal --fracs 1 0.25 \
    --providers $P 2>&1 | tee "$OUT/bench_attn_b.log" | sed -n '/== chai-triton against/,$p'
fi
cp csrc_bench/results/nvidia* "$OUT/" 2>/dev/null
ls "$OUT"
