"""Datasets, loaders and the data manager, with Dassl's API and observable behaviour.

``Datum`` / ``DatasetBase`` / ``DATASET_REGISTRY`` are what the dataset readers build on;
``DataManager`` turns ``cfg.DATASET`` into the train/val/test loaders a trainer uses.
"""
from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, Sequence

import torch
from PIL import Image
from tabulate import tabulate
from torch.utils.data import Dataset as TorchDataset

from .errors import ConfigError, DataError, ImageReadError
from .registry import Registry, unknown_name_message
from .transforms import build_transform, build_to_tensor
from .utils import check_isfile, get_logger

__all__ = [
    "DATASET_REGISTRY",
    "DataManager",
    "DatasetBase",
    "DatasetWrapper",
    "Datum",
    "build_data_loader",
    "build_dataset",
    "data_check_command",
    "read_image",
]

_log = get_logger("engine.data")

DATASET_REGISTRY = Registry("DATASET")


def build_dataset(cfg: Any) -> "DatasetBase":
    """Instantiate the reader registered under ``cfg.DATASET.NAME``."""
    name = cfg.DATASET.NAME
    if name not in DATASET_REGISTRY:
        raise ConfigError(
            unknown_name_message(
                "dataset", name, DATASET_REGISTRY.registered_names(), "DATASET.NAME, set by --dataset-config-file"
            )
        )
    if cfg.VERBOSE:
        _log.info(f"Loading dataset: {name}")
    return DATASET_REGISTRY.get(name)(cfg)


class Datum:
    """One labelled image: path, class label, domain label and class name."""

    def __init__(self, impath: str = "", label: int = 0, domain: int = 0, classname: str = ""):
        if not isinstance(impath, str):
            raise TypeError(f"Datum.impath must be a str, got {type(impath).__name__}")
        if not check_isfile(impath):
            raise DataError(f'No image at "{impath}". Run `python -m datasets.check` to list every missing file.')
        self._impath = impath
        self._label = label
        self._domain = domain
        self._classname = classname

    @property
    def impath(self) -> str:
        return self._impath

    @property
    def label(self) -> int:
        return self._label

    @property
    def domain(self) -> int:
        return self._domain

    @property
    def classname(self) -> str:
        return self._classname

    def __repr__(self) -> str:
        return f"Datum(impath={self._impath!r}, label={self._label}, classname={self._classname!r})"


class DatasetBase:
    """A dataset = lists of ``Datum`` for train_x / train_u / val / test.

    ``num_classes``, ``lab2cname`` and ``classnames`` are derived from ``train_x`` only.
    """

    dataset_dir = ""  # folder of the dataset under DATASET.ROOT
    domains: list[str] = []  # domain names (DA/DG datasets only)

    def __init__(self, train_x=None, train_u=None, val=None, test=None):
        self._train_x = train_x
        self._train_u = train_u
        self._val = val
        self._test = test
        self._num_classes = self.get_num_classes(train_x)
        self._lab2cname, self._classnames = self.get_lab2cname(train_x)

    @property
    def train_x(self):
        return self._train_x

    @property
    def train_u(self):
        return self._train_u

    @property
    def val(self):
        return self._val

    @property
    def test(self):
        return self._test

    @property
    def lab2cname(self) -> dict[int, str]:
        return self._lab2cname

    @property
    def classnames(self) -> list[str]:
        return self._classnames

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @staticmethod
    def get_num_classes(data_source: Sequence[Datum]) -> int:
        """max label + 1."""
        return max(item.label for item in data_source) + 1

    @staticmethod
    def get_lab2cname(data_source: Sequence[Datum]) -> tuple[dict[int, str], list[str]]:
        """label -> classname mapping and the class names sorted by label."""
        mapping = {item.label: item.classname for item in data_source}
        labels = sorted(mapping)
        return mapping, [mapping[label] for label in labels]

    def check_input_domains(self, source_domains, target_domains) -> None:
        if not source_domains or not target_domains:
            raise ConfigError("DATASET.SOURCE_DOMAINS and DATASET.TARGET_DOMAINS must both be non-empty for this dataset.")
        self.is_input_domain_valid(source_domains)
        self.is_input_domain_valid(target_domains)

    def is_input_domain_valid(self, input_domains) -> None:
        for domain in input_domains:
            if domain not in self.domains:
                raise ConfigError(f"Unknown domain {domain!r}: the domains of this dataset are {self.domains}.")

    def generate_fewshot_dataset(self, *data_sources, num_shots: int = -1, repeat: bool = False):
        """Sample ``num_shots`` items per label from each source (Python's global ``random``).

        Items are grouped by label in order of first appearance and drawn with
        ``random.sample``; a label with fewer items keeps all of them (or draws with
        replacement if ``repeat``). This consumes randomness exactly as Dassl does, so the same
        seed yields the same subsets.
        """
        if num_shots < 1:
            return data_sources[0] if len(data_sources) == 1 else data_sources

        _log.info(f"Creating a {num_shots}-shot dataset")
        output = []
        for data_source in data_sources:
            dataset = []
            for _, items in self.split_dataset_by_label(data_source).items():
                if len(items) >= num_shots:
                    sampled = random.sample(items, num_shots)
                elif repeat:
                    sampled = random.choices(items, k=num_shots)
                else:
                    sampled = items
                dataset.extend(sampled)
            output.append(dataset)
        return output[0] if len(output) == 1 else output

    @staticmethod
    def split_dataset_by_label(data_source: Sequence[Datum]) -> dict[int, list[Datum]]:
        output: dict[int, list[Datum]] = defaultdict(list)
        for item in data_source:
            output[item.label].append(item)
        return output

    @staticmethod
    def split_dataset_by_domain(data_source: Sequence[Datum]) -> dict[int, list[Datum]]:
        output: dict[int, list[Datum]] = defaultdict(list)
        for item in data_source:
            output[item.domain].append(item)
        return output


def data_check_command(cfg: Any) -> str:
    """The command that lists every unreadable image of the dataset ``cfg`` reads: its reader's
    ``check_command(cfg)`` (the project's readers have one), or "" when the reader names none."""
    name = cfg.DATASET.NAME
    command = getattr(DATASET_REGISTRY.get(name), "check_command", None) if name in DATASET_REGISTRY else None
    return command(cfg) if command is not None else ""


def read_image(path: str, check_command: str = "") -> Image.Image:
    """Open an image as RGB; an unreadable file raises :class:`ImageReadError` naming it and, for
    an image of a dataset, the command that lists every unreadable image (``check_command``)."""
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, ValueError) as e:
        reason = str(e).replace(f" '{path}'", "").replace(f" {path}", "")  # PIL repeats the path
        fix = (
            f"Replace the file or remove it from the split; `{check_command}` lists all unreadable images."
            if check_command
            else "Replace the file, or leave it out."
        )
        raise ImageReadError(f'Cannot read image "{path}" ({reason}). {fix}') from e


class DatasetWrapper(TorchDataset):
    """Turns a list of ``Datum`` into dict samples: img, label, domain, impath, index."""

    def __init__(self, cfg: Any, data_source: Sequence[Datum], transform=None, is_train: bool = False):
        self.cfg = cfg
        self.data_source = data_source
        self.transform = transform  # a callable, or a list/tuple of them
        self.is_train = is_train
        # Augmenting one image K > 1 times is only allowed during training.
        self.k_tfm = cfg.DATALOADER.K_TRANSFORMS if is_train else 1
        self.return_img0 = cfg.DATALOADER.RETURN_IMG0
        if self.k_tfm > 1 and transform is None:
            raise ConfigError(f"DATALOADER.K_TRANSFORMS {self.k_tfm} needs a transform, but INPUT.NO_TRANSFORM is True.")
        self.to_tensor = build_to_tensor(cfg)
        self.check_command = data_check_command(cfg)

    def __len__(self) -> int:
        return len(self.data_source)

    def __getitem__(self, idx: int) -> dict:
        item = self.data_source[idx]
        output = {"label": item.label, "domain": item.domain, "impath": item.impath, "index": idx}
        img0 = read_image(item.impath, self.check_command)
        if self.transform is None:
            output["img"] = img0
        elif isinstance(self.transform, (list, tuple)):
            for i, tfm in enumerate(self.transform):
                output["img" if i == 0 else f"img{i + 1}"] = self._transform_image(tfm, img0)
        else:
            output["img"] = self._transform_image(self.transform, img0)
        if self.return_img0:
            output["img0"] = self.to_tensor(img0)
        return output

    def _transform_image(self, tfm, img0):
        imgs = [tfm(img0) for _ in range(self.k_tfm)]
        return imgs[0] if len(imgs) == 1 else imgs


_SAMPLERS = {
    "RandomSampler": torch.utils.data.RandomSampler,
    "SequentialSampler": torch.utils.data.SequentialSampler,
}


def build_sampler(sampler_type: str, data_source: Sequence) -> torch.utils.data.Sampler:
    """The two samplers CLIP trainers use; the DA/DG samplers of Dassl are not provided."""
    if sampler_type not in _SAMPLERS:
        raise ConfigError(
            unknown_name_message("sampler", sampler_type, _SAMPLERS, "DATALOADER.*.SAMPLER")
            + " (the DA/DG samplers need real Dassl)"
        )
    return _SAMPLERS[sampler_type](data_source)


def build_data_loader(
    cfg: Any,
    sampler_type: str = "SequentialSampler",
    data_source: Sequence[Datum] | None = None,
    batch_size: int = 64,
    n_domain: int = 0,
    n_ins: int = 2,
    tfm=None,
    is_train: bool = True,
    dataset_wrapper=None,
) -> torch.utils.data.DataLoader:
    """A DataLoader with Dassl's rules: sampler (no shuffle flag), ``drop_last`` only for a
    training set holding at least one full batch, pinned memory only on CUDA."""
    del n_domain, n_ins  # only used by the DA/DG samplers
    wrapper = dataset_wrapper or DatasetWrapper
    use_cuda = torch.cuda.is_available() and cfg.USE_CUDA
    loader = torch.utils.data.DataLoader(
        wrapper(cfg, data_source, transform=tfm, is_train=is_train),
        batch_size=batch_size,
        sampler=build_sampler(sampler_type, data_source),
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        drop_last=is_train and len(data_source) >= batch_size,
        pin_memory=use_cuda,
        persistent_workers=False,
    )
    if len(loader) == 0:
        raise DataError(f"The data loader is empty ({len(data_source)} items, batch size {batch_size}): the dataset has no images for this split.")
    return loader


class DataManager:
    """Builds the dataset, the transforms and the loaders (train_x, train_u, val, test)."""

    def __init__(self, cfg: Any, custom_tfm_train=None, custom_tfm_test=None, dataset_wrapper=None):
        dataset = build_dataset(cfg)

        if custom_tfm_train is None:
            tfm_train = build_transform(cfg, is_train=True)
        else:
            _log.info("* Using custom transform for training")
            tfm_train = custom_tfm_train
        if custom_tfm_test is None:
            tfm_test = build_transform(cfg, is_train=False)
        else:
            _log.info("* Using custom transform for testing")
            tfm_test = custom_tfm_test

        loader_cfg = cfg.DATALOADER
        self.train_loader_x = build_data_loader(
            cfg,
            sampler_type=loader_cfg.TRAIN_X.SAMPLER,
            data_source=dataset.train_x,
            batch_size=loader_cfg.TRAIN_X.BATCH_SIZE,
            tfm=tfm_train,
            is_train=True,
            dataset_wrapper=dataset_wrapper,
        )
        self.train_loader_u = None
        if dataset.train_u:
            u_cfg = loader_cfg.TRAIN_X if loader_cfg.TRAIN_U.SAME_AS_X else loader_cfg.TRAIN_U
            self.train_loader_u = build_data_loader(
                cfg,
                sampler_type=u_cfg.SAMPLER,
                data_source=dataset.train_u,
                batch_size=u_cfg.BATCH_SIZE,
                tfm=tfm_train,
                is_train=True,
                dataset_wrapper=dataset_wrapper,
            )
        self.val_loader = None
        if dataset.val:
            self.val_loader = build_data_loader(
                cfg,
                sampler_type=loader_cfg.TEST.SAMPLER,
                data_source=dataset.val,
                batch_size=loader_cfg.TEST.BATCH_SIZE,
                tfm=tfm_test,
                is_train=False,
                dataset_wrapper=dataset_wrapper,
            )
        self.test_loader = build_data_loader(
            cfg,
            sampler_type=loader_cfg.TEST.SAMPLER,
            data_source=dataset.test,
            batch_size=loader_cfg.TEST.BATCH_SIZE,
            tfm=tfm_test,
            is_train=False,
            dataset_wrapper=dataset_wrapper,
        )

        self.dataset = dataset
        self._num_classes = dataset.num_classes
        self._num_source_domains = len(cfg.DATASET.SOURCE_DOMAINS)
        self._lab2cname = dataset.lab2cname
        if cfg.VERBOSE:
            self.show_dataset_summary(cfg)

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def num_source_domains(self) -> int:
        return self._num_source_domains

    @property
    def lab2cname(self) -> dict[int, str]:
        return self._lab2cname

    def show_dataset_summary(self, cfg: Any) -> None:
        table = [["Dataset", cfg.DATASET.NAME]]
        if cfg.DATASET.SOURCE_DOMAINS:
            table.append(["Source", cfg.DATASET.SOURCE_DOMAINS])
        if cfg.DATASET.TARGET_DOMAINS:
            table.append(["Target", cfg.DATASET.TARGET_DOMAINS])
        table.append(["# classes", f"{self.num_classes:,}"])
        table.append(["# train_x", f"{len(self.dataset.train_x):,}"])
        if self.dataset.train_u:
            table.append(["# train_u", f"{len(self.dataset.train_u):,}"])
        if self.dataset.val:
            table.append(["# val", f"{len(self.dataset.val):,}"])
        table.append(["# test", f"{len(self.dataset.test):,}"])
        _log.info(tabulate(table))
