#!/usr/bin/env bash
# Cross-dataset transfer / domain generalisation, step 2: evaluate the ImageNet model of xd_train.sh on DATASET.
# VPT, deep visual prompting (Jia et al., arXiv 2203.12119) as MaPLe's repository runs it. Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
