#!/usr/bin/env bash
# Base-to-new sweep: train on the base classes and test on the new ones, for every dataset x SEEDS.
# MaPLe (Khattak et al., arXiv 2210.03117). Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
