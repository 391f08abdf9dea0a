#!/usr/bin/env bash
# Few-shot sweep: every dataset x shots 1 2 4 8 16 x SEEDS.
# MuDPT (Miao et al., arXiv 2306.11400). Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
