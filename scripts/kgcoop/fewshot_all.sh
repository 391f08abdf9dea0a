#!/usr/bin/env bash
# Few-shot sweep: every dataset x shots 1 2 4 8 16 x SEEDS.
# KgCoOp (Yao et al., arXiv 2303.13283). Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
