#!/usr/bin/env bash
# Cross-dataset transfer / domain generalisation, step 2: evaluate the ImageNet model of xd_train.sh on DATASET.
# IVLP, independent vision-language prompting (the baseline of MaPLe, arXiv 2210.03117). Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
