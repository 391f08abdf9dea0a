#!/usr/bin/env bash
# Few-shot learning: train on all classes of DATASET with SHOTS images per class, then test.
# KgCoOp (Yao et al., arXiv 2303.13283). Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
