"""Export a trained run as one file: ``python export.py RUN_DIR MODEL.safetensors [--load-epoch N]``.

The file (safetensors: tensors and text, no pickle) holds the trained tensors, the effective config,
the class names, the prompt template and the backbone's identity (source, name, sha256 of its
weights). ``mudpt.load("MODEL.safetensors")`` and ``python predict.py MODEL.safetensors ...`` use
it anywhere; loading checks the backbone's weights and says which to fetch when they differ.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python export.py", description=__doc__.split("\n")[0])
    p.add_argument("run", metavar="RUN_DIR", help="a train.py training run folder (its --output-dir)")
    p.add_argument("out", metavar="MODEL.safetensors", help="the file to write")
    p.add_argument("--load-epoch", type=int, default=None, help="its model.pth.tar-<epoch> (default: the model the run deployed)")
    p.add_argument("--clip-path", default="", help="the CLIP weights file, if not where the run's config says")
    p.add_argument("--root", default="", help="the data root, if not where the run's config says (for the class names of older runs)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import mudpt
    from engine.seam import UserError

    try:
        path = mudpt.export(args.run, args.out, load_epoch=args.load_epoch, clip_path=args.clip_path, root=args.root)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
