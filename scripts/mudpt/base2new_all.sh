#!/usr/bin/env bash
# Base-to-new sweep for MuDPT: 11 datasets x seeds (default 1 2 3), train then test.
# Run with --help for the arguments and environment variables.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
source "$SCRIPT_DIR/settings.sh"
base2new_all_main "$@"
