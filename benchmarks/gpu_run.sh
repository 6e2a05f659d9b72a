#!/usr/bin/env bash
# On a GPU machine: the parity tests under JAX and PyTorch (TF32 off, so
# float32 is float32), then benchmarks/gpu.py. Usage: gpu_run.sh OUT_DIR [BUDGET_S]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?output folder}; budget=${2:-360}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi -L
select="equals_timm or match_timm or parameter_count_equals or matches_torchvision"
for backend in torch jax; do
  extra=(); [ $backend = torch ] && extra=(tests/test_torch_plan.py)
  [ $backend = torch ] && sel="$select or cuda_graph or plan_gives" || sel="$select"
  NVIDIA_TF32_OVERRIDE=0 JAX_DEFAULT_MATMUL_PRECISION=highest KERAS_BACKEND=$backend \
    timeout 150 python3 -m pytest -q -p no:cacheprovider -o addopts="" -rfEs \
    tests/test_timm_v1_v3.py tests/test_mobilenet_v4.py tests/test_segmentation_heads.py \
    "${extra[@]}" -k "$sel" --junitxml="$out/parity_$backend.xml" 2>&1 | tail -25
done
python3 benchmarks/gpu.py --out "$out" --budget "$budget"
