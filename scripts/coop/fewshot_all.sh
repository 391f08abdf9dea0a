#!/usr/bin/env bash
# Few-shot sweep for CoOp: 11 datasets x shots 1 2 4 8 16 x seeds (default 1 2 3).
# Run with --help for the arguments and environment variables.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
source "$SCRIPT_DIR/settings.sh"
fewshot_all_main "$@"
