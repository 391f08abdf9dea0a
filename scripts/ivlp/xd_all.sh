#!/usr/bin/env bash
# Cross-dataset and domain-generalisation sweep: for each seed, train on ImageNet, then test on every target.
# IVLP, independent vision-language prompting (the baseline of MaPLe, arXiv 2210.03117). Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
