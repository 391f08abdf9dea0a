#!/usr/bin/env bash
# Cross-dataset / DG target: evaluate zero-shot CLIP on DATASET.
# Run with --help for the arguments and environment variables.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
source "$SCRIPT_DIR/settings.sh"
xd_test_main "$@"
