#!/usr/bin/env bash
# Base-to-new, step 2: evaluate the base-trained CoOp model on the new classes.
# Run with --help for the arguments and environment variables.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
source "$SCRIPT_DIR/settings.sh"
base2new_test_main "$@"
