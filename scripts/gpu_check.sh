#!/usr/bin/env bash
# The GPU check: run it as is on a machine with one or more NVIDIA GPUs (and aibench installed: pip install -e .).
#   scripts/gpu_check.sh [OUT_DIR]
# 1. the subset at tiny on cuda in bf16 (autocast), to its targets;
# 2. a --smoke run of the subset at full size on data shaped like the real sets (the real models, a few steps);
# 3. with 2 or more GPUs: C1 C10 C15 at tiny on 2 processes (torchrun, NCCL, one GPU each).
# It prints one short table of what ran; each step's records stay in OUT_DIR/<step>/results.sqlite.
set -uo pipefail
out=${1:-gpu-check}
mkdir -p "$out"
gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
if [ "$gpus" -lt 1 ]; then
  echo "gpu_check: no NVIDIA GPU visible (nvidia-smi -L lists none)" >&2
  exit 2
fi
nvidia-smi -L
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'bf16', torch.cuda.is_bf16_supported())"

declare -A rc
step() {  # name, then the aibench arguments
  local name=$1; shift
  echo "== $name: aibench $*"
  local t0=$SECONDS
  python -m aibench "$@" --out "$out/$name" > "$out/$name.log" 2>&1
  rc[$name]=$?
  echo "   exit ${rc[$name]} after $((SECONDS - t0)) s (log: $out/$name.log)"
}

step tiny-bf16 run subset --scale tiny --device cuda --precision bf16
step profile-bf16 profile subset --scale tiny --device cuda --precision bf16  # GPU kernels by category, autocast
python -m aibench data synth subset --scale full --dir "$out/data-full" > /dev/null
step full-smoke run subset --scale full --data-dir "$out/data-full" --smoke --device cuda
if [ "$gpus" -ge 2 ]; then
  step ddp-nccl run C1 C10 C15 --scale tiny --device cuda --nproc 2
fi

echo
printf '%-11s %-5s %-14s %-10s %-10s %-12s %s\n' step bench status quality target "train/s" "world"
for name in tiny-bf16 profile-bf16 full-smoke ddp-nccl; do
  [ -f "$out/$name/results.sqlite" ] || continue
  python - "$name" "$out/$name/results.sqlite" <<'PY'
import json, sqlite3, sys
name, db = sys.argv[1], sys.argv[2]
for bench, status, quality, target, metrics, config in sqlite3.connect(db).execute(
        "SELECT benchmark, status, quality, target, metrics, config FROM runs ORDER BY id"):
    m, c = json.loads(metrics or "{}"), json.loads(config or "{}")
    fmt = lambda v, f="{:.4g}": "-" if v is None else f.format(v)
    world = (c.get("distributed") or {}).get("world_size", 1)
    print(f"{name:<11} {bench.removeprefix('DC-AI-'):<5} {status:<14} {fmt(quality):<10} {fmt(target):<10} "
          f"{fmt(m.get('throughput_samples_per_s'), '{:.0f}'):<12} {world}")
PY
done
failed=0
for name in "${!rc[@]}"; do [ "${rc[$name]}" -eq 0 ] || failed=1; done
exit $failed
