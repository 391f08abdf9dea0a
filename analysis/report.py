"""The alignment analysis written out: ``alignment.json`` (every number), ``alignment.md`` (the
runs side by side, then per layer) and two figures drawn as ``results.plots`` draws its own
(Agg backend, its colours, title and legend helper):

* ``alignment_layers.png``: per block, how far each tower's readout hidden state moved from frozen
  CLIP (cosine, 1 = unmoved), and per prompted layer the cosine of the two towers' prompts in
  CLIP's joint space; one line per run;
* ``alignment_gap_margin.png``: bars of each run's modality gap and true-class margin.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Sequence

from .alignment import RunMeasures

__all__ = ["LAYER_MEASURES", "row_labels", "write_report"]

# Per-layer measures: (field of RunMeasures, title, x axis).
LAYER_MEASURES = (
    ("image_state_movement", "Image tower: cos(CLS state, frozen CLIP's)", "output of block"),
    ("text_state_movement", "Text tower: cos(EOT state, frozen CLIP's)", "output of block"),
    ("prompt_cosine", "Text vs visual prompts in CLIP's joint space (cos)", "prompted layer (0 = shallow)"),
)
# Global measures: (field, column header, format).
GLOBAL_MEASURES = (
    ("accuracy", "accuracy %", "{:.2f}"),
    ("modality_gap", "modality gap", "{:.4f}"),
    ("true_cosine", "true-class cos", "{:.4f}"),
    ("margin", "margin", "{:.4f}"),
    ("image_movement", "image cos to frozen", "{:.4f}"),
    ("text_movement", "text cos to frozen", "{:.4f}"),
)
MISSING = "–"


def _tag_parts(path: str) -> set[str]:
    """The overrides a protocol run folder is named by (``<recipe>+lr0.5-max_epoch2/seed1``)."""
    tag = os.path.basename(os.path.dirname(os.path.normpath(path))).partition("+")[2]
    return {part for part in tag.split("-") if part}


def row_labels(rows: Sequence[RunMeasures]) -> list[str]:
    """One short label per row: the method, its dataset when the rows have several, the settings
    that tell it from the rows of the same method and dataset (caption settings, else the parts
    of its run folder's override tag that the others lack), numbered when that is not enough."""
    ids = [r.identity for r in rows]
    several = len({(i["dataset"], i.get("folder", "")) for i in ids}) > 1
    base = [i["method"] + (f" {i['dataset']}" if several else "") + (f" {i['folder']}" if several and i.get("folder") else "")
            for i in ids]  # fmt: skip
    labels = []
    for b, i in zip(base, ids):
        peers = [j for bb, j in zip(base, ids) if bb == b]
        mine = i.get("settings", {})
        differing = [f"{k} {mine[k]}" for k in mine if len({str(p.get("settings", {}).get(k)) for p in peers}) > 1]
        if not differing and len(peers) > 1 and not i.get("reference_of"):
            common = set.intersection(*(_tag_parts(p["path"]) for p in peers))
            differing = sorted(_tag_parts(i["path"]) - common)
        labels.append(b + (f" ({', '.join(differing)})" if differing else ""))
    seen: dict[str, int] = {}
    numbered = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        numbered.append(f"{label} #{seen[label]}" if labels.count(label) > 1 else label)
    return numbered


def _source(identity: dict[str, Any]) -> str:
    """Where a row comes from: its run folder and checkpoint, or the run it is the reference of."""
    if identity.get("reference_of"):
        return f"frozen CLIP with the prompt \"{identity.get('template')}\", on the data of `{identity['reference_of']}`"
    checkpoint, unfinished = identity.get("checkpoint"), identity.get("unfinished_training")
    partial = f"; epoch {unfinished['epoch']} of a training that did not complete ({unfinished['status']})" if unfinished else ""
    return f"`{identity['path']}`" + (f" (checkpoint `{checkpoint}`{partial})" if checkpoint else "")


def _fmt(value: Any, spec: str = "{:.4f}") -> str:
    return MISSING if value is None else spec.format(value)


def _settings(identity: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}".strip() for k, v in identity.get("settings", {}).items())


def _markdown(rows: Sequence[RunMeasures], labels: Sequence[str]) -> str:
    split = rows[0].identity["split"]
    lines = [
        "# Alignment of trained runs",
        "",
        f"Split: {split}. Cosines are of L2-normalised vectors; frozen CLIP = zero-shot CLIP with the dataset's "
        "hand-crafted prompt on the same images and classes. Definitions: docs/alignment.md.",
        "",
        "| run | dataset | classes | images | settings | " + " | ".join(h for _, h, _ in GLOBAL_MEASURES) + " |",
        "|---|---|---|---|---|" + "---:|" * len(GLOBAL_MEASURES),
    ]
    for label, r in zip(labels, rows):
        i = r.identity
        cells = [label, i["dataset"], f"{i['classes']} ({r.classes})", str(r.images), _settings(i)]
        cells += [_fmt(getattr(r, f), spec) for f, _, spec in GLOBAL_MEASURES]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Runs:", ""]
    lines += [f"- {label}: {_source(r.identity)}" for label, r in zip(labels, rows)]
    for name, title, axis in LAYER_MEASURES:
        series = [getattr(r, name) for r in rows]
        depth = max((len(s) for s in series if s), default=0)
        lines += ["", f"## {title}", ""]
        if not depth:
            lines.append("No run has this measure.")
            continue
        lines += [f"| {axis} | " + " | ".join(labels) + " |", "|---:|" + "---:|" * len(labels)]
        for b in range(depth):
            lines.append(f"| {b} | " + " | ".join(_fmt(s[b] if s and b < len(s) else None) for s in series) + " |")
    lines += _injection_markdown(rows, labels)
    return "\n".join(lines) + "\n"


def _injection_markdown(rows: Sequence[RunMeasures], labels: Sequence[str]) -> list[str]:
    """Per run with an Injection Model: its attention entropy (and same-layer share) per layer."""
    lines = []
    for label, r in zip(labels, rows):
        a = r.injection_attention
        if not a:
            continue
        if not lines:
            lines = ["", "## Injection Model attention (MuDPT)", "",
                     "Entropy of the attention over the keys, divided by log(keys): 1 = uniform, 0 = one key; "
                     "same-layer share (INJ_SPAN all): the weight a layer's queries give to the same layer's keys."]  # fmt: skip
        shares = a.get("same_layer_share")
        header = [f"{d} entropy" for d in a["directions"]] + ([f"{d} same-layer share" for d in a["directions"]] if shares else [])
        lines += ["", f"{label}:", "", "| prompted layer | " + " | ".join(header) + " |", "|---:|" + "---:|" * len(header)]
        for j, layer in enumerate(a["layers"]):
            cells = [_fmt(a["entropy"][d][j]) for d in a["directions"]] + ([_fmt(shares[d][j]) for d in a["directions"]] if shares else [])
            lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    return lines


def _plots(rows: Sequence[RunMeasures], labels: Sequence[str], out_dir: Path) -> list[Path]:
    from results.plots import _colours, _finish, _pyplot

    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    colours = _colours(len(rows))
    split = rows[0].identity["split"]
    datasets = ", ".join(sorted({r.identity["dataset"] for r in rows}))
    paths = []

    fig, axes = plt.subplots(1, len(LAYER_MEASURES), figsize=(4.2 * len(LAYER_MEASURES), 3.4))
    for ax, (name, title, axis) in zip(axes, LAYER_MEASURES):
        drawn = False
        for colour, r in zip(colours, rows):
            values = getattr(r, name)
            points = [(b, v) for b, v in enumerate(values or []) if v is not None]
            if points:
                ax.plot(*zip(*points), color=colour, marker="o", markersize=3, linewidth=1.2)
                drawn = True
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(axis, fontsize=8)
        ax.set_ylabel("mean cosine", fontsize=8)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if not drawn:
            ax.text(0.5, 0.5, "no run has this measure", ha="center", va="center", transform=ax.transAxes, fontsize=8)
    paths.append(_finish(fig, (f"Per-layer alignment ({datasets}, {split} split)", "1 = unmoved from frozen CLIP"),
                         labels, colours, True, out_dir / "alignment_layers.png"))  # fmt: skip

    fig, axes = plt.subplots(1, 2, figsize=(max(6.0, 1.2 * len(rows) + 3.0), 3.4))
    x = range(len(rows))
    for ax, (name, title) in zip(axes, (("modality_gap", "Modality gap (centroid distance)"), ("margin", "True-class margin (cos)"))):
        values = [getattr(r, name) for r in rows]
        ax.bar(x, values, color=colours)
        ax.set_title(title, fontsize=9)
        ax.set_xticks(list(x))
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.margins(y=0.15)
        for i, v in enumerate(values):
            ax.annotate(f"{v:.3f}", (i, v), ha="center", va="bottom" if v >= 0 else "top", fontsize=7)
    paths.append(_finish(fig, (f"Gap and margin ({datasets}, {split} split)", "gap: lower = closer modalities; margin: higher = better separated"),
                         labels, colours, False, out_dir / "alignment_gap_margin.png"))  # fmt: skip
    return paths


def write_report(rows: Sequence[RunMeasures], out_dir: str | Path, plots: bool = True) -> list[Path]:
    """``alignment.json``, ``alignment.md`` and (``plots``) the figures in ``out_dir``; returns their paths."""
    from engine.seam import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = row_labels(rows)
    record = {
        "split": rows[0].identity["split"] if rows else None,
        "definitions": "docs/alignment.md (and analysis/alignment.py)",
        "runs": [{"label": label, **dataclasses.asdict(r)} for label, r in zip(labels, rows)],
    }
    paths = [out / "alignment.json", out / "alignment.md"]
    atomic_write_text(str(paths[0]), json.dumps(record, indent=2) + "\n")
    atomic_write_text(str(paths[1]), _markdown(rows, labels))
    if plots:
        paths += _plots(rows, labels, out)
    return paths
