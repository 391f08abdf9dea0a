#!/usr/bin/env bash
# Base-to-new, step 2: evaluate the model of base2new_train.sh on the new classes of DATASET.
# KgCoOp (Yao et al., arXiv 2303.13283). Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
