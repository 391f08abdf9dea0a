#!/usr/bin/env bash
# Base-to-new, step 1: train on the base classes of DATASET, then test on them.
# PromptSRC (Khattak et al., arXiv 2307.06948). Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
