#!/usr/bin/env bash
# Cross-dataset transfer / domain generalisation, step 1: train on ImageNet (all classes), then test on it.
# KgCoOp (Yao et al., arXiv 2303.13283). Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
