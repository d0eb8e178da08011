#!/usr/bin/env bash
# Every GPU target of kdlib, measured in one call of at most 8 minutes on one H100/H200 with no network, and written
# as a dated section of benchmarks/BENCHMARKS.md (and printed).
#
#   bash benchmarks/gpu_check.sh            # on the GPU machine, from the repository root, after `make .venv/.installed`
#   CHECK=smoke bash benchmarks/gpu_check.sh   # the same steps at the smoke budget: checks the script on a CPU
#
# 1. one `fast` full-data CIFAR-10 run after a warm-up run (target < 10 s), and a fixed share of the C1 sweep on
#    CIFAR-10 shapes: the teacher and the 12 runs of one seed of three (6 fractions x 2 methods); the whole sweep
#    (3 seeds, target < 10 min) is predicted as teacher + 3 x that share. The images are made up (50,000 of
#    CIFAR's shape; CIFAR cannot be downloaded there): their times are real, their accuracies mean nothing.
# 2. kdlib's training step against a torchvision DataLoader pipeline on the same model (convnet-s; target >= 3x).
# 3. notebook 01 (with its ViT variant) at the cpu profile on the GPU, with the sweep workers (one per core).
# Each step has its own time limit, so one slow step cannot take the others' time; a step that runs out says so.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
CHECK=${CHECK:-gpu}
OUT=${OUT:-benchmarks/BENCHMARKS.md}
if [ "$CHECK" = smoke ]; then
  C1=(--profile smoke --synthetic 600 --seeds 0); INPUT=(--steps 5 --warmup 2 --images 2000 --batch 128 --precision fp32)
  NB=(--profile smoke)
  LIMITS=(300 300 300)
else
  C1=(--profile gpu --synthetic 50000 --seeds 0); INPUT=(); NB=(--profile cpu)
  LIMITS=(200 90 150)
fi
section=$(mktemp)
step() {  # step <limit in s> <title> <command...>: run it with a time limit, into the section
  local limit=$1 title=$2; shift 2
  echo "### $title" >> "$section"
  echo '```' >> "$section"
  local start=$SECONDS
  timeout "$limit" "$@" 2>/dev/null | tee -a "$section"
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 124 ] && echo "STOPPED: over its ${limit} s limit" | tee -a "$section"
  [ "$rc" != 0 ] && [ "$rc" != 124 ] && echo "FAILED: exit status $rc" | tee -a "$section"
  echo "(${title}: $((SECONDS - start)) s)" | tee -a "$section"
  echo '```' >> "$section"
}
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
{
  echo
  echo "## GPU check, $(date -u '+%Y-%m-%d %H:%M UTC') ($CHECK)"
  echo
  echo "- GPU: ${gpu:-none visible}; CPU: $(nproc) cores; $("$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)')"
  echo "- commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); \`CHECK=$CHECK bash benchmarks/gpu_check.sh\`"
  echo
} >> "$section"
total_start=$SECONDS
step "${LIMITS[0]}" "One fast full-data run, and a share of the C1 sweep: teacher + one seed of three (all 3 seeds: teacher + 3 x students)" \
  "$PY" benchmarks/bench_c1_cifar.py "${C1[@]}"
step "${LIMITS[1]}" "kdlib's input path against a DataLoader (convnet-s, 50,000 images per pass)" \
  "$PY" benchmarks/bench_cifar_input.py --model convnet-s --workers "$(nproc)" "${INPUT[@]}"
step "${LIMITS[2]}" "Notebook 01 (and its ViT variant) at ${NB[1]} on the GPU, one worker per core" \
  "$PY" benchmarks/bench_reproduce.py "${NB[@]}" --notebooks 01 --device auto
echo "All steps: $((SECONDS - total_start)) s" >> "$section"
cat "$section" >> "$OUT"
echo "written to $OUT ($((SECONDS - total_start)) s)"
rm -f "$section"
