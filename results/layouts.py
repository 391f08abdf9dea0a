"""Finding the runs below a folder and reading what each one measures from its path.

A run is a folder that holds Dassl logs (or a ``seed<N>`` folder that holds none: a run that
never started). Its path gives its :class:`RunKey` (protocol, method, config, shots, dataset,
role) and its seed; the layouts are matched at the end of the path, and whatever comes before the
recognised layout below the parsed folder (``eval/`` in ``output/eval/base2new/...``) is the
run's *prefix*: part of its key, so a copy under ``eval/`` never averages with the main runs.

Layouts understood:

- ours (:class:`protocols.definitions.RunPath`, of every registered protocol):
  ``<protocol>/[<step folder>/]<dataset>/shots_<K>/<Trainer>/<cfg>/seed<S>``, the step folder
  giving the table role (``train_base`` -> base, ``test_new`` -> new, ``train`` -> source,
  ``test`` -> target; few-shot has none); CoCoOp and MaPLe write the same base-to-new layout;
- the released MuDPT code: ``base2new/{base,new}/<dataset>/shots_<K>/<cfg>/seed<S>``;
- CoOp's few-shot runs: ``<dataset>/CoOp/<cfg>_<K>shots/nctx<N>_csc<B>_ctp<P>/seed<S>``;
- CoCoOp's / MaPLe's cross-dataset source and targets: ``imagenet/<Trainer>/<cfg>_<K>shots[/<extra>]/seed<S>``
  and ``evaluation/<Trainer>/<cfg>_<K>shots/<dataset>[/<extra>]/seed<S>``;
- CoOp's zero-shot CLIP: ``ZeroshotCLIP/<cfg>/<dataset>`` (no seed folder). It evaluates all
  classes (a zero-shot table of its own) unless the log's config says
  ``SUBSAMPLE_CLASSES: base`` or ``new`` (then it is a base-to-new result); a folder holding
  logs of several class subsets gives one run per subset.

Anything else with logs is reported under "other", grouped by its path without the seed folder.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from protocols.definitions import RunPath, seed_of_folder, shots_of_folder

from .benchmarks import Benchmarks, StepLayout, benchmarks
from .logs import (
    DEFAULT_KEYWORD,
    NO_LOG,
    LogResult,
    choose,
    failed_reason,
    parse_log,
    sorted_logs,
)
from .settings import SUBSAMPLE_KEY, Config, read_config_yaml

__all__ = ["BASE2NEW", "FEWSHOT", "OTHER", "XD", "ZEROSHOT", "Run", "RunKey", "classify", "find_runs"]

# The protocols other repositories' layouts are runs of (ours, by name: protocols.definitions), and
# the two groups outside the protocols: CoOp's zero-shot runs on all classes, and anything else.
BASE2NEW, XD, FEWSHOT, ZEROSHOT, OTHER = "base2new", "xd", "fewshot", "zeroshot", "other"
BASE, NEW, SOURCE, TARGET = "base", "new", "source", "target"
ALL_CLASSES = "all"

LEGACY_SHOTS_RE = re.compile(r"^(.+)_(\d+)shots$")  # CoOp / CoCoOp: <cfg>_<K>shots
COOP_VARIANT_RE = re.compile(r"^nctx\d+_csc\w+_ctp\w+$")  # CoOp's main.sh: nctx16_cscFalse_ctpend
LEGACY_EVALUATION_DIR = "evaluation"  # CoCoOp's / MaPLe's cross-dataset targets
COOP_TRAINER = "CoOp"


@dataclass(frozen=True)
class RunKey:
    """What a run measures, without its seed: the unit that is averaged over seeds.

    Args:
        protocol: base2new | xd | fewshot | zeroshot | other (xd covers cross-dataset and DG).
        method: the trainer (MuDPT, CoOp, ...).
        config: the config folder; for "other": the run group's path relative to the parsed folder.
        shots: from the path (None where the path has none, as for zero-shot CLIP).
        dataset: a dataset config name (its folder in the layout).
        role: base | new (base2new), source | target (xd), "" otherwise.
        prefix: the folders between the parsed folder and the recognised layout ("" for none).
    """

    protocol: str
    method: str = ""
    config: str = ""
    shots: int | None = None
    dataset: str = ""
    role: str = ""
    prefix: str = ""


@dataclass(frozen=True)
class Run:
    """One run folder and its result.

    Args:
        path: the run folder.
        key, seed: what it measures (see :func:`classify`).
        result: the chosen log (None: the folder has no log at all).
        config: the kept keys of its config (``config.yaml``, else the chosen log's dump); None
            when neither could be read.
        record_reason: why it is incomplete according to its ``run.json`` (this repository's runs).
        cost: the ``cost`` of its ``run.json`` (a training run of this repository:
            ``trainable_params``, ``train_ms_per_iter``, ``peak_memory_mb``, ``memory_kind``);
            None when it has none (evaluations, older runs, the Dassl backend, other repositories).
    """

    path: Path
    key: RunKey
    seed: int | None
    result: LogResult | None
    config: Config | None = None
    record_reason: str = ""
    cost: Mapping[str, Any] | None = None

    @property
    def complete(self) -> bool:
        return self.result is not None and self.result.complete

    @property
    def reason(self) -> str:
        if self.complete:
            return ""
        if self.record_reason:
            return self.record_reason
        return NO_LOG if self.result is None else self.result.reason


# =============================================================================================
# Finding runs
# =============================================================================================
def find_runs(root: Path, keyword: str = DEFAULT_KEYWORD) -> list[Run]:
    """Every run below ``root`` (``root`` included), sorted by path.

    A run is a folder holding Dassl logs. A ``seed<N>`` folder with no log anywhere below it is
    a run that never started (or stopped before logging). Other folders without logs, and
    hidden ones (``.previous/`` of ``--restart``), are ignored. Links to folders are followed
    (a folder reached twice is read once).
    """
    root = Path(os.path.abspath(root))
    runs: list[Run] = []
    seed_dirs_without_log: list[Path] = []
    seen: set[str] = set()  # real paths walked: links are followed, each folder read once
    for dirpath, dirnames, file_names in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        logs = sorted_logs(here, file_names)
        if logs:
            runs.extend(_runs_of_folder(here, root, [parse_log(path, keyword) for path in logs]))
        elif seed_of_folder(here.name) is not None:
            seed_dirs_without_log.append(here)
    run_paths = [run.path for run in runs]
    for seed_dir in seed_dirs_without_log:
        if not any(path.is_relative_to(seed_dir) for path in run_paths):
            key, seed = classify(seed_dir, root)
            runs.append(Run(seed_dir, key, seed, None, read_config_yaml(seed_dir), record_reason(seed_dir), run_cost(seed_dir)))
    return sorted(runs, key=lambda run: (run.path, run.key.role))


def _runs_of_folder(run_dir: Path, root: Path, parsed: Sequence[LogResult]) -> list[Run]:
    """The run(s) of a folder with logs (parsed oldest first): one, except for a zero-shot
    folder that holds logs of several class subsets (one run per subset)."""
    file_config = read_config_yaml(run_dir)
    groups: dict[str, list[LogResult]] = {}
    if _zero_shot_layout(_abs_parts(run_dir)) is not None:
        for result in parsed:
            groups.setdefault(result.config.get(SUBSAMPLE_KEY, ALL_CLASSES), []).append(result)
    else:
        groups[""] = list(parsed)
    runs = []
    reason = ""
    cost = run_cost(run_dir) if len(groups) == 1 else None  # several runs in one folder: whose?
    for group in groups.values():
        chosen = choose(group)
        if len(groups) > 1:  # several runs in one folder: config.yaml is the last one's, each log has its own
            config = chosen.config or None
        else:
            config = file_config if file_config is not None else (chosen.config or None)
        key, seed = classify(run_dir, root, config)
        if not chosen.complete and not reason:
            reason = record_reason(run_dir)
        runs.append(Run(run_dir, key, seed, chosen, config, "" if chosen.complete else reason, cost))
    return runs


def run_cost(run_dir: Path) -> dict[str, Any] | None:
    """The ``cost`` its ``run.json`` records (None: no record, no cost in it, or not readable)."""
    from engine.errors import RunFolderError
    from engine.run_folder import RunFolder

    try:
        cost = RunFolder(str(run_dir)).record().get("cost")
    except RunFolderError:
        return None
    return cost if isinstance(cost, dict) else None


def record_reason(run_dir: Path) -> str:
    """Why a run of this repository is incomplete, from its ``run.json`` ("" when it has none,
    or when the record does not say: its logs do)."""
    from engine.errors import RunFolderError
    from engine.run_folder import FAILED, UNFINISHED_REASONS, RunFolder

    folder = RunFolder(str(run_dir))
    if not os.path.isfile(folder.file(folder.RECORD)):
        return ""
    try:
        record = folder.record()
    except RunFolderError:
        return f"{folder.RECORD} is not readable"
    status = record.get("status")
    if status == FAILED:
        return failed_reason(str(record.get("error", "")))
    return UNFINISHED_REASONS.get(status, "")


# =============================================================================================
# Classifying a path
# =============================================================================================
Match = tuple[RunKey, int]  # the key (without prefix) and where the layout starts in the path


def _abs_parts(path: Path) -> tuple[str, ...]:
    return Path(os.path.abspath(path)).parts


def classify(run_dir: Path, root: Path, config: Mapping[str, str] | None = None) -> tuple[RunKey, int | None]:
    """Read protocol, method, config, shots, dataset, role, prefix and seed from a run's path.

    The layouts are matched at the end of the path, so the parsed folder may be anywhere in or
    below it. ``config`` (the run's config keys) is read only for zero-shot folders, to tell a
    base-to-new evaluation from one on all classes. Paths that match no layout go to "other".
    """
    parts = _abs_parts(run_dir)
    root_parts = _abs_parts(root)
    seed = seed_of_folder(parts[-1])
    bm = benchmarks()
    found: Match | None = None
    if seed is not None:
        found = _match_ours(parts, bm)
        for matcher in (_match_released_mudpt, _match_legacy_evaluation, _match_legacy_train):
            if found is not None:
                break
            found = matcher(parts[:-1], bm)
    else:
        found = _zero_shot_layout(parts, config)
    if found is not None:
        key, start = found
        under_root = parts[: len(root_parts)] == root_parts
        prefix = "/".join(parts[len(root_parts) : start]) if under_root and start > len(root_parts) else ""
        return _with_prefix(key, prefix), seed
    group_dir = Path(*parts[:-1]) if seed is not None else Path(*parts)
    return RunKey(OTHER, config=relative(group_dir, root)), seed


def _with_prefix(key: RunKey, prefix: str) -> RunKey:
    return RunKey(key.protocol, key.method, key.config, key.shots, key.dataset, key.role, prefix)


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (``root`` itself when they are the same)."""
    rel = os.path.relpath(path, root)
    return str(root) if rel == "." else rel


def _match_ours(parts: Sequence[str], bm: Benchmarks) -> Match | None:
    """A run path of one of our protocols (:class:`~protocols.definitions.RunPath`) whose dataset
    takes part in its step."""

    def takes_part(protocol, step, dataset: str) -> bool:
        return _takes_part(bm.protocols[protocol.name].step(step.folder), dataset, bm)

    parsed = RunPath.parse(Path(*parts), takes_part)
    if parsed is None:
        return None
    run, start = parsed
    role = bm.protocols[run.protocol].step(run.step_folder).table_role
    return RunKey(run.protocol, run.trainer, run.config, run.shots, run.dataset, role), start


def _takes_part(step: StepLayout, dataset: str, bm: Benchmarks) -> bool:
    """A known dataset must take part in the step; an unknown one may, unless only known ones can."""
    if bm.is_known(dataset):
        return dataset in step.datasets
    return not step.known_only


def _match_released_mudpt(body: Sequence[str], bm: Benchmarks) -> Match | None:
    """The released MuDPT code: ``base2new/{base,new}/<dataset>/shots_<K>/<cfg>`` (no trainer folder)."""
    from trainers import METHODS

    if len(body) < 5 or body[-5] != BASE2NEW or shots_of_folder(body[-2]) is None:
        return None
    roles = {step.table_role for step in bm.protocols[BASE2NEW].steps}  # its folders are the roles
    role, dataset, config = body[-4], body[-3], body[-1]
    if role not in roles:
        return None
    return RunKey(BASE2NEW, METHODS["mudpt"].trainer_name, config, shots_of_folder(body[-2]), dataset, role), len(body) - 5


def _match_legacy_evaluation(body: Sequence[str], bm: Benchmarks) -> Match | None:
    """CoCoOp / MaPLe cross-dataset targets: ``evaluation/<Trainer>/<cfg>_<K>shots/<ds>[/...]``."""
    for i in range(len(body) - 4, -1, -1):
        if body[i] != LEGACY_EVALUATION_DIR:
            continue
        shots_match = LEGACY_SHOTS_RE.match(body[i + 2])
        rest = list(body[i + 3 :])
        datasets = [part for part in rest if bm.is_known(part)]
        if shots_match is None or not datasets or datasets[0] == bm.xd_source:
            return None
        rest.remove(datasets[0])
        config = "/".join([shots_match.group(1), *rest])
        return RunKey(XD, body[i + 1], config, int(shots_match.group(2)), datasets[0], TARGET), i
    return None


def _match_legacy_train(body: Sequence[str], bm: Benchmarks) -> Match | None:
    """``<ds>/<Trainer>/<cfg>_<K>shots[/<extra>]``: CoOp's few-shot layout (extra =
    ``nctx<N>_csc<B>_ctp<P>``) and CoCoOp's / MaPLe's cross-dataset source on ImageNet."""
    extra: list[str] = []
    if len(body) >= 3 and LEGACY_SHOTS_RE.match(body[-1]) and bm.is_known(body[-3]):
        start = len(body) - 3
    elif len(body) >= 4 and LEGACY_SHOTS_RE.match(body[-2]) and bm.is_known(body[-4]):
        start = len(body) - 4
        extra = [body[-1]]
    else:
        return None
    dataset, method, cfg_shots = body[start : start + 3]
    shots_match = LEGACY_SHOTS_RE.match(cfg_shots)
    assert shots_match is not None  # checked above
    config = "/".join([shots_match.group(1), *extra])
    shots = int(shots_match.group(2))
    is_coop_main = method == COOP_TRAINER and bool(extra) and bool(COOP_VARIANT_RE.match(extra[0]))
    if dataset == bm.xd_source and not is_coop_main:
        return RunKey(XD, method, config, shots, dataset, SOURCE), start
    return RunKey(FEWSHOT, method, config, shots, dataset), start


def _zero_shot_layout(parts: Sequence[str], config: Mapping[str, str] | None = None) -> Match | None:
    """CoOp's zero-shot CLIP: ``<ZeroshotCLIP>/<cfg>/<dataset>``; the class subset of its config
    decides the table (base / new: base-to-new; all, or unknown: the zero-shot table)."""
    from trainers import METHODS

    if len(parts) < 3 or seed_of_folder(parts[-1]) is not None:
        return None
    trainers = {m.trainer_name for m in METHODS.values() if m.zero_shot}
    if parts[-3] not in trainers:
        return None
    method, cfg, dataset = parts[-3:]
    subsample = (config or {}).get(SUBSAMPLE_KEY, ALL_CLASSES)
    start = len(parts) - 3
    if subsample in (BASE, NEW):
        return RunKey(BASE2NEW, method, cfg, None, dataset, subsample), start
    return RunKey(ZEROSHOT, method, cfg, None, dataset), start
