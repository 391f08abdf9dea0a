#!/usr/bin/env bash
# Offline end-to-end check of an installation, in about a minute on 2 CPU cores: it generates a tiny
# dataset in DTD's real layout and a tiny random CLIP weights file, then runs the real protocol
# scripts (MuDPT and CoOp base-to-new train + test, zero-shot CLIP on base and new classes) and
# parse_results.py over their output. Nothing is downloaded; the numbers are meaningless.
#
#   bash scripts/smoke.sh            # in a temporary folder, removed afterwards
#   SMOKE_DIR=/tmp/smoke bash scripts/smoke.sh   # keep everything there
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"
PYTHON=${PYTHON:-python}

if [[ -n ${SMOKE_DIR:-} ]]; then
    WORK=$SMOKE_DIR
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d -t mudpt-smoke-XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
fi
export DATA=$WORK/data OUTPUT=$WORK/output CLIP_PATH=$WORK/tiny_clip.pt PYTHON

echo "== Generating a tiny DTD-layout dataset and a tiny random CLIP in $WORK"
"$PYTHON" - "$WORK" <<'PY'
import sys
from datasets.synthetic import make_synthetic_dataset
from trainers.clip_loader import build_tiny_clip, save_state_dict

work = sys.argv[1]
make_synthetic_dataset(f"{work}/data", "dtd", n_classes=4, n_train=4, n_val=2, n_test=4, image_size=32)
# Widths are multiples of 64: clip.model.build_model infers heads = width // 64 from the file.
save_state_dict(build_tiny_clip(vision_width=128, transformer_width=128, transformer_heads=2, vision_layers=3, transformer_layers=3), f"{work}/tiny_clip.pt")
PY

# Recipe configs are for ViT-B/16; these overrides fit the 32 px, 3-block tiny CLIP and a CPU.
TINY=(INPUT.SIZE "(32, 32)" DATALOADER.NUM_WORKERS 0 DATALOADER.TRAIN_X.BATCH_SIZE 2 DATALOADER.TEST.BATCH_SIZE 8
      OPTIM.MAX_EPOCH 2 DATASET.NUM_SHOTS 2)
MUDPT_TINY=(TRAINER.MUDPT.PROMPT_DEPTH 3 TRAINER.MUDPT.INJ_WIDTH 64 TRAINER.MUDPT.INJ_HEADS 2)
SEED=1

run() {
    echo
    echo "== $*"
    bash "$@" > "$WORK/last_run.txt" 2>&1 || { cat "$WORK/last_run.txt"; echo "smoke: FAILED: $*" >&2; exit 1; }
    tail -n 3 "$WORK/last_run.txt"
}

run scripts/mudpt/base2new_train.sh dtd $SEED "${TINY[@]}" "${MUDPT_TINY[@]}"
run scripts/mudpt/base2new_test.sh dtd $SEED "${TINY[@]}" "${MUDPT_TINY[@]}"
run scripts/coop/base2new_train.sh dtd $SEED "${TINY[@]}"
run scripts/coop/base2new_test.sh dtd $SEED "${TINY[@]}"
run scripts/zsclip/base2new_train.sh dtd $SEED "${TINY[@]}"
run scripts/zsclip/base2new_test.sh dtd $SEED "${TINY[@]}"

echo
echo "== Rerunning a finished run is a no-op"
bash scripts/mudpt/base2new_train.sh dtd $SEED "${TINY[@]}" "${MUDPT_TINY[@]}" | tee "$WORK/rerun.txt"
grep -q "already holds this run, complete" "$WORK/rerun.txt"

echo
echo "== Rerunning it with another learning rate is refused (the folder belongs to its run)"
if bash scripts/mudpt/base2new_train.sh dtd $SEED "${TINY[@]}" "${MUDPT_TINY[@]}" OPTIM.LR 0.5 2> "$WORK/refused.txt"; then
    echo "smoke: FAILED: a changed config ran into the folder of another run" >&2
    exit 1
fi
cat "$WORK/refused.txt"
grep -q "OPTIM.LR: 0.0025 (the folder's run) vs 0.5 (this run)" "$WORK/refused.txt"

echo
echo "== python parse_results.py $OUTPUT"
"$PYTHON" parse_results.py "$OUTPUT" | tee "$WORK/table.txt"
for method in MuDPT CoOp ZeroshotCLIP; do
    grep -q "$method" "$WORK/table.txt" || { echo "smoke: FAILED: no $method results in the table" >&2; exit 1; }
done
echo
echo "smoke: OK (installation works end to end; see README for real data and weights)"
