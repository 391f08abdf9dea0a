#!/usr/bin/env bash
# Base-to-new, step 1: train CoOp on the base classes of DATASET (16 shots).
# Run with --help for the arguments and environment variables.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
source "$SCRIPT_DIR/settings.sh"
base2new_train_main "$@"
