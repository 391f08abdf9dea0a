#!/usr/bin/env bash
# Offline end-to-end check of an installation, in about two minutes on 2 CPU cores: it
# generates two tiny datasets in DTD's and EuroSAT's real layouts and a tiny random CLIP weights
# file, runs the base-to-new protocol for MuDPT, CoOp and zero-shot CLIP on both, two runs at a
# time through the local launcher, checks the run-folder rules, makes the tables and the plots, runs
# a two-point grid of MuDPT and its grid table, and the alignment analysis of every trained run
# against frozen CLIP. Nothing is downloaded; the numbers are meaningless.
#
#   bash scripts/smoke.sh                        # in a temporary folder; keeps only the table and plots
#   SMOKE_DIR=/tmp/smoke bash scripts/smoke.sh   # keep everything there (runs, logs, table, plots)
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"
PYTHON=${PYTHON:-python}

if [[ -n ${SMOKE_DIR:-} ]]; then
    WORK=$SMOKE_DIR
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d -t mudpt-smoke-XXXXXX)
    # On success only the tables, the plots and the analysis stay; after a failure everything stays, to look at.
    trap 'if [[ $? == 0 ]]; then rm -rf "$WORK"/{data,output,tiny_clip.pt,rerun.txt,lr.txt,status.txt}; else echo "smoke: everything is kept in $WORK" >&2; fi' EXIT
fi
export DATA=$WORK/data OUTPUT=$WORK/output CLIP_PATH=$WORK/tiny_clip.pt

echo "== Generating tiny DTD- and EuroSAT-layout datasets and a tiny random CLIP in $WORK"
"$PYTHON" - "$WORK" <<'PY'
import sys
from datasets.synthetic import make_synthetic_dataset
from trainers.clip_loader import build_tiny_clip, save_state_dict

work = sys.argv[1]
for name in ("dtd", "eurosat"):
    make_synthetic_dataset(f"{work}/data", name, n_classes=4, n_train=4, n_val=2, n_test=4, image_size=32)
# Widths are multiples of 64: clip.model.build_model infers heads = width // 64 from the file.
save_state_dict(build_tiny_clip(vision_width=128, transformer_width=128, transformer_heads=2, vision_layers=3, transformer_layers=3), f"{work}/tiny_clip.pt")
PY

# Recipe configs are for ViT-B/16; these overrides fit the 32 px, 3-block tiny CLIP and a CPU
# (the TRAINER.MUDPT ones reach MuDPT's runs only: a sweep without MuDPT refuses them).
TINY_ANY=(INPUT.SIZE "(32, 32)" DATALOADER.NUM_WORKERS 0 DATALOADER.TRAIN_X.BATCH_SIZE 2 DATALOADER.TEST.BATCH_SIZE 8
          OPTIM.MAX_EPOCH 2 DATASET.NUM_SHOTS 2)
TINY=("${TINY_ANY[@]}" TRAINER.MUDPT.PROMPT_DEPTH 3 TRAINER.MUDPT.INJ_WIDTH 64 TRAINER.MUDPT.INJ_HEADS 2)
SWEEP=(base2new --methods mudpt,coop,zsclip --datasets dtd,eurosat --seeds 1)

echo
echo "== python sweep.py ${SWEEP[*]} --launcher local --jobs 2 (train on the base classes, test on the new ones)"
"$PYTHON" sweep.py "${SWEEP[@]}" --launcher local --jobs 2 "${TINY[@]}"

echo
echo "== Rerunning the sweep is a no-op (every run is complete)"
"$PYTHON" sweep.py "${SWEEP[@]}" "${TINY[@]}" > "$WORK/rerun.txt"
tail -n 1 "$WORK/rerun.txt"
grep -q "^Summary: 12 skipped$" "$WORK/rerun.txt" || { cat "$WORK/rerun.txt"; echo "smoke: FAILED: the rerun was not a no-op" >&2; exit 1; }

echo
echo "== A protocol script with another learning rate writes its own run folder"
bash scripts/coop/base2new_train.sh dtd 1 "${TINY_ANY[@]}" OPTIM.LR 0.5 > "$WORK/lr.txt"
grep -q "vit_b16_ctxv1+train_x.batch_size2-size32_32-lr0.5-max_epoch2/seed1" "$WORK/lr.txt" || { cat "$WORK/lr.txt"; exit 1; }
tail -n 1 "$WORK/lr.txt"

echo
echo "== python sweep.py status ${SWEEP[*]}"
"$PYTHON" sweep.py status "${SWEEP[@]}" "${TINY[@]}" > "$WORK/status.txt"
head -n 1 "$WORK/status.txt"

echo
echo "== python parse_results.py $OUTPUT --plot $WORK/plots"
"$PYTHON" parse_results.py "$OUTPUT" --plot "$WORK/plots" --plot-note "synthetic data, random tiny CLIP" | tee "$WORK/table.txt"
for method in MuDPT CoOp ZeroshotCLIP; do
    grep -q "$method" "$WORK/table.txt" || { echo "smoke: FAILED: no $method results in the table" >&2; exit 1; }
done
ls "$WORK"/plots/*.png > /dev/null || { echo "smoke: FAILED: no plots in $WORK/plots" >&2; exit 1; }

echo
echo "== A two-point grid: MuDPT on DTD with N_CTX 1 and 2 (2 is the recipe's: the run above, skipped)"
"$PYTHON" sweep.py base2new --methods mudpt --datasets dtd --seeds 1 --grid TRAINER.MUDPT.N_CTX=1,2 "${TINY[@]}" | tail -n 1
"$PYTHON" parse_results.py "$OUTPUT" --grid TRAINER.MUDPT.N_CTX --cost --plot "$WORK/plots" --plot-note "synthetic data, random tiny CLIP" | tee "$WORK/grid.txt"
grep -q "N_CTX" "$WORK/grid.txt" || { echo "smoke: FAILED: no grid table" >&2; exit 1; }

echo
echo "== python -m analysis alignment $OUTPUT --zero-shot --out $WORK/alignment (every trained run, frozen CLIP beside)"
"$PYTHON" -m analysis alignment "$OUTPUT" --zero-shot --out "$WORK/alignment"
for method in MuDPT CoOp ZeroshotCLIP; do
    grep -q "| $method" "$WORK/alignment/alignment.md" || { echo "smoke: FAILED: no $method row in the alignment table" >&2; exit 1; }
done

echo
echo "smoke: OK (installation works end to end; see README for real data and weights)"
echo "The tables and the plots: $WORK/table.txt, $WORK/grid.txt, $WORK/plots/; the alignment analysis: $WORK/alignment/"
