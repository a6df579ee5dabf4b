#!/usr/bin/env bash
# The GPU checks of this suite in one run: the `gpu`-marked tests and the training benchmark at
# the paper's settings (resnet50, 224x224, batch 64, bf16, channels_last), eager and compiled.
# Logs go to $OUT (default gpu-out/). Needs python3 with torch (CUDA), timm, kornia, pandas, pytest;
# wheels in .whl/ are installed first when present (for machines without kornia).
set -u
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 CUBLAS_WORKSPACE_CONFIG=:4096:8
{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
    python3 -c "import torch, timm, kornia; print('torch', torch.__version__, 'timm', timm.__version__, 'kornia', kornia.__version__)"
    nproc
} 2>&1 | tee "$OUT/machine.txt"
timeout 180 python3 -m pytest -q -p no:cacheprovider -m gpu tests 2>&1 | tee "$OUT/gpu-tests.txt"
timeout 150 python3 -m bench.train_speed --config config/config.yaml --steps 10 --windows 6 --out "$OUT" 2>&1 | tee "$OUT/bench-paper.txt"
timeout 120 python3 -m bench.describe_speed --config config/config.yaml --out "$OUT" 2>&1 | tee "$OUT/bench-describe.txt"
printf 'train:\n  compile: true\n' > /tmp/compile.yaml
timeout 200 python3 -m bench.train_speed --config config/config.yaml /tmp/compile.yaml --steps 10 --windows 6 --tag _compile --out "$OUT" 2>&1 | tee "$OUT/bench-paper-compile.txt"
