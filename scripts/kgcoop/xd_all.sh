#!/usr/bin/env bash
# Cross-dataset and domain-generalisation sweep: for each seed, train on ImageNet, then test on every target.
# KgCoOp (Yao et al., arXiv 2303.13283). Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
