#!/usr/bin/env bash
# Cross-dataset / DG, step 1: train CoCoOp on ImageNet (16 shots, all classes).
# Run with --help for the arguments and environment variables.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
source "$SCRIPT_DIR/settings.sh"
xd_train_main "$@"
