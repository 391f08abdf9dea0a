#!/usr/bin/env bash
# Cross-dataset and DG sweep for zero-shot CLIP: ImageNet source, then 10 + 4 targets, per seed.
# Run with --help for the arguments and environment variables.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
source "$SCRIPT_DIR/settings.sh"
xd_all_main "$@"
