#!/usr/bin/env bash
# The GPU check in one go (about 9-13 minutes on one H200): correctness of the fast paths, then the
# benchmark table on a random-init ViT-B/16 next to the official numbers; the peers (KgCoOp, MaPLe,
# IVLP, VPT, PromptSRC, LinearProbeCLIP) in steps of their own, last.
#
#   bash bench/gpu_check.sh                 # results in $OUT, or output/bench_gpu/ when OUT is unset
#   PYTHON=/path/to/python bash bench/gpu_check.sh
#
# Every step has its own time limit and appends one JSON line per row as it finishes, so a step
# cut short still leaves what it measured. Files: env.txt, precision.jsonl (+ .txt), bench.jsonl
# (+ one .txt table per step). Exit status: 1 if the precision check failed or a step errored.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT="${OUT:-output/bench_gpu}"
PY="${PYTHON:-python}"
mkdir -p "$OUT"
status=0
CORE=(MuDPT CoOp CoCoOp ZeroshotCLIP)  # the methods with official rows beside them
PEERS=(KgCoOp MaPLe IVLP VPT PromptSRC LinearProbeCLIP)

step() {  # step NAME SECONDS CMD...: run CMD under a time limit, log to $OUT/NAME.txt
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s): $*"
    local start=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.txt"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc after $((SECONDS - start))s"
    [ "$rc" -eq 0 ] || status=1
}

{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
    "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "bf16", torch.cuda.is_bf16_supported())'
    git rev-parse HEAD 2>/dev/null
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# 1. Same results: logits and gradients of fp32/amp/fp16 x fused/plain against fp32 with CLIP's own blocks.
step precision 100 "$PY" -m bench.precision_check --size vitb16 --n-cls 500 --methods "${CORE[@]}" --json "$OUT/precision.jsonl"
# 2. The headline table: n_cls 500 (ImageNet's base half), optimised path, every precision.
step bench_500 170 "$PY" -m bench.bench --size vitb16 --n-cls 500 --methods "${CORE[@]}" --prec amp fp16 fp32 --fused on --json "$OUT/bench.jsonl"
# 3. The plain path (CLIP's own blocks, full 77 tokens) on the same rows, for the speed-up of the substrate.
step bench_500_plain 130 "$PY" -m bench.bench --size vitb16 --n-cls 500 --methods "${CORE[@]}" --prec amp fp32 --fused off --eval-batches 3 --json "$OUT/bench.jsonl"
# 4. Fewer classes (a typical base-to-new dataset).
step bench_50 60 "$PY" -m bench.bench --size vitb16 --n-cls 50 --methods "${CORE[@]}" --prec amp fp16 fp32 --fused on --json "$OUT/bench.jsonl"
# 5. The peers: the same correctness check, then their n_cls 500 rows on the optimised path.
step precision_peers 120 "$PY" -m bench.precision_check --size vitb16 --n-cls 500 --methods "${PEERS[@]}" --json "$OUT/precision.jsonl"
step bench_500_peers 150 "$PY" -m bench.bench --size vitb16 --n-cls 500 --methods "${PEERS[@]}" --prec amp fp32 --fused on --json "$OUT/bench.jsonl"
# 6. Inference of every method on both paths, timed interleaved: evaluation and prediction (the API on PIL images).
step inference_both 120 "$PY" -m bench.bench --size vitb16 --n-cls 50 --methods "${CORE[@]}" "${PEERS[@]}" --prec amp --fused both --iters 0 --eval-batches 5 --json "$OUT/bench.jsonl"

echo "results: $OUT (exit $status)"
exit $status
