#!/usr/bin/env bash
# Few-shot learning: train on all classes of DATASET with SHOTS images per class, then test.
# Linear-probe CLIP (Radford et al., arXiv 2103.00020) as CoOp's lpclip runs it. Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
