"""Run the protocols of the CoOp family: many runs, one command (see ``python sweep.py --help``).

    python sweep.py base2new --methods mudpt --datasets dtd,eurosat --seeds 1 2 3
    python sweep.py base2new --launcher local --gpus 0,1,2,3
    python sweep.py status base2new

The protocol scripts ``scripts/<method>/*.sh`` call it too. The logic is in ``protocols/``.
"""
import sys

from protocols.cli import main

if __name__ == "__main__":
    sys.exit(main())
