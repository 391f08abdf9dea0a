#!/usr/bin/env bash
# Base-to-new, step 2: evaluate the model of base2new_train.sh on the new classes of DATASET.
# IVLP, independent vision-language prompting (the baseline of MaPLe, arXiv 2210.03117). Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
