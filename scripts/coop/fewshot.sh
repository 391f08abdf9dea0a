#!/usr/bin/env bash
# Few-shot learning: train CoOp on DATASET with SHOTS shots per class.
# Run with --help for the arguments and environment variables.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
source "$SCRIPT_DIR/settings.sh"
fewshot_main "$@"
