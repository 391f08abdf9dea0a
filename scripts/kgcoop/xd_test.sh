#!/usr/bin/env bash
# Cross-dataset transfer / domain generalisation, step 2: evaluate the ImageNet model of xd_train.sh on DATASET.
# KgCoOp (Yao et al., arXiv 2303.13283). Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
