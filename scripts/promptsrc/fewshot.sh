#!/usr/bin/env bash
# Few-shot learning: train on all classes of DATASET with SHOTS images per class, then test.
# PromptSRC (Khattak et al., arXiv 2307.06948). Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
