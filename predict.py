"""Classify images with a trained run or an exported model (the Python API: ``mudpt.py``).

    python predict.py RUN_OR_FILE INPUT... [--classes a,b,c | --classes-file F] [--topk K]
                      [--out predictions.csv] [--batch-size N] [--device cuda]

INPUT: image files, folders (searched recursively for images), or a CSV in CSVDataset's format
(a header with ``path`` and ``label`` and/or ``classname``; paths relative to the CSV). The classes
are the model's own, or the given class names (every method whose text side takes class names;
linear-probe CLIP refuses them). ``--out`` gets one row per image: its path and its top-K class
names and probabilities. With labels (a CSV's ``label`` / ``classname`` column, or
``--labels-from-folders``: each image's folder is its class, as in an ImageFolder layout) the
accuracy is printed and ``<out>_per_class.csv`` and ``<out>_confusion.csv`` / ``.png`` are written
beside ``--out``; nothing is written next to the inputs. Unreadable images are listed with the
reason, the others are classified, and the exit status is then 1 (2: bad arguments or input).
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import os.path as osp
import sys
from dataclasses import dataclass
from typing import Sequence

EXIT_UNREADABLE, EXIT_USAGE = 1, 2
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
DEFAULT_TOPK = 5


@dataclass
class Item:
    """One image to classify and, when the input says it, its class: a name (``label``), or the
    rank of a CSV's integer label among that CSV's ``keys`` distinct labels (``rank``)."""

    path: str
    label: str | None = None
    rank: int | None = None
    keys: int = 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python predict.py", description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python predict.py output/.../seed1 photos/ --classes cat,dog --out preds.csv",
    )  # fmt: skip
    p.add_argument("model", metavar="RUN_OR_FILE", help="a train.py training run folder, or a file written by export.py")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive) or a CSV (path + label or classname)")
    classes = p.add_mutually_exclusive_group()
    classes.add_argument("--classes", help="comma-separated class names to predict (default: the model's own)")
    classes.add_argument("--classes-file", metavar="F", help="a file of class names, one per line")
    p.add_argument("--labels-from-folders", action="store_true", help="each image's folder is its class (an ImageFolder layout): prints accuracy")
    p.add_argument("--topk", type=int, default=DEFAULT_TOPK, help=f"class names per image in --out (default {DEFAULT_TOPK})")
    p.add_argument("--out", default="predictions.csv", help="the predictions CSV (default ./predictions.csv)")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--load-epoch", type=int, default=None, help="a run's model.pth.tar-<epoch> (default: the model the run deployed)")
    p.add_argument("--clip-path", default="", help="the CLIP weights file, if not where the model's config says")
    p.add_argument("--verbose", action="store_true", help="print what loading and building do")
    return p


# --- inputs ---------------------------------------------------------------------------------------
def collect(inputs: Sequence[str], labels_from_folders: bool) -> list[Item]:
    """The images of the inputs, in order (a folder's sorted), with their labels when known."""
    from engine.seam import DataError

    items: list[Item] = []
    for given in inputs:
        if osp.isdir(given):
            found = sorted(
                osp.join(top, name) for top, _, names in os.walk(given) for name in names if name.lower().endswith(IMAGE_SUFFIXES)
            )
            if not found:
                raise DataError(f"{given}: no image files below it ({', '.join(IMAGE_SUFFIXES)}).")
            items += [Item(path, osp.basename(osp.dirname(path)) if labels_from_folders else None) for path in found]
        elif given.lower().endswith(".csv") and osp.isfile(given):
            items += _csv_items(given)
        elif osp.isfile(given):
            if labels_from_folders:
                raise DataError(f"{given}: --labels-from-folders takes folders (an ImageFolder layout), not single files.")
            items.append(Item(given))
        else:
            raise DataError(f"{given}: no such file or folder.")
    return items


def _csv_items(path: str) -> list[Item]:
    """A CSV in CSVDataset's format: its images (relative to the CSV) and their classes: the
    ``classname`` column's names, else the ``label`` column's integers, which name classes by
    their sorted order as CSVDataset reads them (the smallest label is the first class)."""
    from datasets.csv_dataset import read_csv_rows

    rows, has_label = read_csv_rows(path)
    folder = osp.dirname(osp.abspath(path))
    if not has_label or all(cname is not None for _, _, cname, _ in rows):
        return [Item(osp.join(folder, rel), cname if cname is not None else key) for rel, key, cname, _ in rows]
    keys = sorted({int(key) for _, key, _, _ in rows})
    rank = {key: i for i, key in enumerate(keys)}
    return [Item(osp.join(folder, rel), f"label {key}", rank[int(key)], len(keys)) for rel, key, _, _ in rows]


def resolve_labels(items: Sequence[Item], classnames: Sequence[str]) -> list[int] | None:
    """Each item's class index among ``classnames`` (None: the inputs carry no labels). A label
    is a class name (``_`` as a space), or a CSV's integer label: its rank among the CSV's labels,
    when the CSV names as many classes as are predicted (CSVDataset's order)."""
    from engine.seam import DataError

    if not items or all(item.label is None for item in items):
        return None
    unlabelled = [item.path for item in items if item.label is None]
    if unlabelled:
        shown = ", ".join(unlabelled[:3]) + (", ..." if len(unlabelled) > 3 else "")
        raise DataError(
            f"Some images have a label and {len(unlabelled)} of the {len(items)} do not ({shown}). Fix: label "
            "every image (a CSV's label or classname column, --labels-from-folders), or predict the unlabelled ones "
            "in another command."
        )
    index = {name: i for i, name in enumerate(classnames)}
    index.update({name.replace("_", " "): i for i, name in enumerate(classnames)})
    ranked = {item.keys for item in items if item.rank is not None}
    if ranked - {len(classnames)}:
        raise DataError(
            f"A CSV's integer labels name {' / '.join(map(str, sorted(ranked)))} classes and this prediction has "
            f"{len(classnames)}: labels name classes by their sorted order (as CSVDataset reads them), so every class "
            "needs its label in the CSV. Fix: add a classname column, or predict with the classes the labels name (--classes)."
        )
    out, unknown = [], []
    for item in items:
        label = item.label or ""
        out.append(item.rank if item.rank is not None else index.get(label, index.get(label.replace("_", " "), -1)))
        if out[-1] < 0:
            unknown.append(label)
    if unknown:
        shown = ", ".join(sorted(set(unknown))[:10])
        raise DataError(
            f"labels that are not classes of this prediction: {shown}. The classes: {', '.join(classnames)}. "
            "Fix: predict with those classes (--classes / --classes-file), or label with their names."
        )
    return out


def class_list(args: argparse.Namespace) -> list[str] | None:
    from engine.seam import ConfigError

    if args.classes is not None:
        names = [name.strip() for name in args.classes.split(",")]
        if not all(names):
            raise ConfigError(f"--classes {args.classes!r}: an empty class name; give names separated by commas, e.g. --classes cat,dog.")
        return names
    if args.classes_file is None:
        return None
    if not osp.isfile(args.classes_file):
        raise ConfigError(f"--classes-file {args.classes_file}: no such file.")
    with open(args.classes_file, encoding="utf-8-sig") as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise ConfigError(f"--classes-file {args.classes_file}: no class names in it; write one name per line.")
    return names


# --- outputs --------------------------------------------------------------------------------------
def write_predictions(path: str, items: Sequence[Item], probs, classnames: Sequence[str], topk: int) -> None:
    from engine.seam import atomic_write_text

    k = min(topk, len(classnames))
    values, indices = probs.topk(k, dim=-1)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["path", *[column for r in range(1, k + 1) for column in (f"class_{r}", f"prob_{r}")]])
    for item, vs, ix in zip(items, values.tolist(), indices.tolist()):
        writer.writerow([item.path, *[x for v, i in zip(vs, ix) for x in (classnames[i], f"{v:.6f}")]])
    atomic_write_text(path, out.getvalue())


def write_evaluation(stem: str, labels: Sequence[int], predicted: Sequence[int], classnames: Sequence[str]) -> list[str]:
    """Per-class accuracy (CSV) and the confusion matrix (CSV and PNG); returns the files written."""
    from engine.seam import atomic_write_text

    n = len(classnames)
    confusion = [[0] * n for _ in range(n)]
    for t, p in zip(labels, predicted):
        confusion[t][p] += 1
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["class", "images", "correct", "accuracy"])
    for i, name in enumerate(classnames):
        total = sum(confusion[i])
        writer.writerow([name, total, confusion[i][i], f"{100.0 * confusion[i][i] / total:.2f}" if total else ""])
    per_class = f"{stem}_per_class.csv"
    atomic_write_text(per_class, out.getvalue())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["true \\ predicted", *classnames])
    writer.writerows([name, *row] for name, row in zip(classnames, confusion))
    table = f"{stem}_confusion.csv"
    atomic_write_text(table, out.getvalue())
    figure = f"{stem}_confusion.png"
    _plot_confusion(figure, confusion, classnames)
    return [per_class, table, figure]


def _plot_confusion(path: str, confusion: list[list[int]], classnames: Sequence[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    n = len(classnames)
    side = min(max(4.0, 0.35 * n + 2.0), 30.0)
    fig, ax = plt.subplots(figsize=(side, side))
    rows = [sum(row) or 1 for row in confusion]
    ax.imshow([[c / r for c in row] for row, r in zip(confusion, rows)], cmap="Blues", vmin=0.0, vmax=1.0)
    ticks = range(n)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xticklabels(classnames, rotation=90, fontsize=7)
    ax.set_yticklabels(classnames, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:  # the counts, where they stay legible
        for i, row in enumerate(confusion):
            for j, count in enumerate(row):
                if count:
                    ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color="white" if count / rows[i] > 0.5 else "black")
    ax.set_title("Confusion matrix\n(counts; colour: share of each true class)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- the command ----------------------------------------------------------------------------------
def _reason(error: Exception, path: str) -> str:
    """Why the image at ``path`` could not be read, without its path: the OS's words for a file
    error ("No such file or directory"), else the decoder's ("cannot identify image file")."""
    cause = error.__cause__ or error
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(cause).replace(f" '{path}'", "")


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    import mudpt
    from engine.seam import ConfigError, ImageReadError

    if args.topk < 1 or args.batch_size < 1:
        raise ConfigError(f"--topk and --batch-size must be at least 1, got {args.topk} and {args.batch_size}.")
    if osp.isdir(args.out):
        raise ConfigError(f"--out {args.out} is a folder; give a file name, e.g. --out {osp.join(args.out, 'predictions.csv')}.")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    given = class_list(args)
    items = collect(args.inputs, args.labels_from_folders)
    clf = mudpt.load(args.model, device=device, load_epoch=args.load_epoch, clip_path=args.clip_path, verbose=args.verbose)
    classnames = given or clf.classnames
    labels = resolve_labels(items, classnames)
    clf.model(classnames)  # a refusal (linear probe, class-specific context) before any image is read
    print(f"{clf.method} ({clf.source}): {len(items):,} images, {len(classnames)} classes, {device}", file=sys.stderr)

    probs, kept, unreadable = [], [], []  # kept: the indices of the images read
    bar = tqdm(total=len(items), file=sys.stderr, unit="img", disable=None, dynamic_ncols=True)
    for start in range(0, len(items), args.batch_size):
        batch, tensors = [], []
        for i in range(start, min(start + args.batch_size, len(items))):
            try:
                tensors.append(clf.preprocess([items[i].path])[0])
                batch.append(i)
            except ImageReadError as e:
                unreadable.append((items[i].path, _reason(e, items[i].path)))
        if tensors:
            probs.append(clf.predict(tensors, classnames, batch_size=len(tensors)).probs)
            kept += batch
        bar.update(min(args.batch_size, len(items) - start))
    bar.close()
    written = []
    if kept:
        all_probs = torch.cat(probs)
        write_predictions(args.out, [items[i] for i in kept], all_probs, classnames, args.topk)
        written.append(args.out)
        if labels is not None:
            true = [labels[i] for i in kept]
            predicted = all_probs.argmax(dim=-1).tolist()
            correct = sum(int(t == p) for t, p in zip(true, predicted))
            print(f"accuracy: {100.0 * correct / len(kept):.2f}% ({correct:,} of {len(kept):,} images)")
            written += write_evaluation(osp.splitext(args.out)[0], true, predicted, classnames)
    else:
        print("No image could be read: nothing was classified.", file=sys.stderr)
    if written:
        print(f"Wrote {', '.join(written)}", file=sys.stderr)
    if unreadable:
        print(f"{len(unreadable)} unreadable image(s), not classified:", file=sys.stderr)
        for path, reason in unreadable:
            print(f"  {path}: {reason}", file=sys.stderr)
        return EXIT_UNREADABLE
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from engine.seam import UserError

    try:
        return run(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
