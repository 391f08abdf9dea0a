#!/usr/bin/env bash
# Base-to-new sweep: train on the base classes and test on the new ones, for every dataset x SEEDS.
# VPT, deep visual prompting (Jia et al., arXiv 2203.12119) as MaPLe's repository runs it. Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
