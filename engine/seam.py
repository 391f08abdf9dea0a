"""The seam: the one module through which the project imports every Dassl symbol.

Trainers, dataset readers and ``train.py`` write ``from engine.seam import TrainerX, ...`` and
never name Dassl themselves. The backend is chosen once, at first import, from the environment
variable ``MUDPT_BACKEND`` (``train.py --backend`` sets it):

* ``auto`` (default): real Dassl.pytorch when it is importable, else the built-in engine;
* ``dassl``: real Dassl, or an error that says how to install it;
* ``builtin``: the built-in lean engine in this package.

Real Dassl at its last commit (c61a1b5) breaks on torch >= 2.7 in two places; this module mends
both when it selects Dassl: its warmup schedulers no longer pass the ``verbose`` argument torch
removed, and keep their successor as plain state (so checkpoints load with
``weights_only=True`` and a resumed run's LR follows the schedule); and its checkpoint loader is
replaced by the project's safe loader.
"""
from __future__ import annotations

import importlib
import os

from .errors import (  # noqa: F401  (re-exported: the project's user errors, for both backends)
    BackendError,
    CheckpointError,
    ConfigError,
    DataError,
    ImageReadError,
    NonFiniteLossError,
    RunFolderError,
    UserError,
    WeightsError,
)

BACKEND_ENV = "MUDPT_BACKEND"
BACKEND_CHOICES = ("auto", "dassl", "builtin")

_requested = os.environ.get(BACKEND_ENV, "auto").strip().lower() or "auto"
if _requested not in BACKEND_CHOICES:
    raise ConfigError(
        f"{BACKEND_ENV}={_requested!r} is not a backend; use one of {', '.join(BACKEND_CHOICES)} "
        "(or train.py --backend)."
    )


def _dassl_importable() -> tuple[bool, str]:
    try:
        importlib.import_module("dassl.engine")
        return True, ""
    except ImportError as e:
        return False, str(e)


if _requested == "builtin":
    BACKEND = "builtin"
else:
    _ok, _why = _dassl_importable()
    if _ok:
        BACKEND = "dassl"
    elif _requested == "dassl":
        raise BackendError(
            f"{BACKEND_ENV}=dassl (or --backend dassl) but Dassl cannot be imported: {_why}. Install it with "
            "`git clone https://github.com/KaiyangZhou/Dassl.pytorch && pip install -r Dassl.pytorch/requirements.txt "
            "&& pip install --no-build-isolation -e Dassl.pytorch`, or use --backend builtin."
        )
    else:
        BACKEND = "builtin"

# Project helpers, the same for both backends.
from .checkpoint import (  # noqa: E402,F401
    BEST_NAME,
    check_config_fits,
    checkpoint_epochs,
    checkpoint_name,
    latest_checkpoint,
    load_fitting_state,
    model_file,
    prune_checkpoints,
)
from .checkpoint import load_checkpoint as _safe_load_checkpoint  # noqa: E402
from .config_compare import DASSL_RESULT_KEYS, ResultKeys, config_differences, describe_differences, flatten_config  # noqa: E402,F401
from .data import read_image  # noqa: E402,F401  (an image as the readers open it: RGB, errors that name the file)
from .measure import PeakMemory, StepTimer  # noqa: E402,F401
from .registry import closest_names, unknown_name_message  # noqa: E402,F401
from .run_folder import RunFolder, file_input  # noqa: E402,F401
from .utils import (  # noqa: E402,F401
    CONSOLE,
    PROGRESS,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    close_logger,
    file_digests,
    get_logger,
    log_file_path,
    quiet_logs,
    set_verbose,
    sha256_file,
    write_log_file,
)

if BACKEND == "dassl":
    import dassl  # noqa: E402
    import dassl.engine.trainer as _dassl_trainer_module  # noqa: E402
    import dassl.optim.lr_scheduler as _dassl_lr_scheduler  # noqa: E402
    import dassl.utils as _dassl_utils  # noqa: E402
    import dassl.utils.torchtools as _dassl_torchtools  # noqa: E402
    from dassl.config import get_cfg_default  # noqa: E402
    from dassl.data import DataManager, DatasetWrapper  # noqa: E402
    from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum  # noqa: E402
    from dassl.data.transforms import build_transform  # noqa: E402
    from dassl.engine import TRAINER_REGISTRY, TrainerX, build_trainer  # noqa: E402
    from dassl.evaluation import build_evaluator  # noqa: E402
    from dassl.metrics import compute_accuracy  # noqa: E402
    from dassl.optim import build_lr_scheduler, build_optimizer  # noqa: E402
    from dassl.utils import (  # noqa: E402
        check_isfile,
        collect_env_info,
        listdir_nohidden,
        load_pretrained_weights,
        mkdir_if_missing,
        read_json,
        set_random_seed,
        setup_logger,
        write_json,
    )
    from torch.optim.lr_scheduler import LRScheduler as _LRScheduler  # noqa: E402

    # Importing Dassl runs logging.disable(WARNING) (its wilds module), which would silence every
    # line this project logs (the log is what results are parsed from). Undo it.
    import logging as _logging  # noqa: E402

    _logging.disable(_logging.NOTSET)

    def _warmup_init(self, optimizer, successor, warmup_epoch, last_epoch=-1, verbose=False):
        # torch 2.7 removed LRScheduler's `verbose` argument that Dassl passes positionally.
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        _LRScheduler.__init__(self, optimizer, last_epoch)

    def _warmup_state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "successor")}
        state["successor"] = self.successor.state_dict()
        return state

    def _warmup_load_state_dict(self, state_dict):
        state = dict(state_dict)
        successor = state.pop("successor", None)
        if successor is not None:
            self.successor.load_state_dict(successor if isinstance(successor, dict) else successor.state_dict())
        self.__dict__.update(state)

    _base = _dassl_lr_scheduler._BaseWarmupScheduler
    _base.__init__ = _warmup_init
    _base.state_dict = _warmup_state_dict
    _base.load_state_dict = _warmup_load_state_dict
    # Dassl's trainer and torchtools bound load_checkpoint by name; replace every binding.
    for _module in (_dassl_torchtools, _dassl_utils, _dassl_trainer_module):
        _module.load_checkpoint = _safe_load_checkpoint
    load_checkpoint = _safe_load_checkpoint
    BACKEND_DESCRIPTION = f"real Dassl {getattr(dassl, '__version__', '?')} ({os.path.dirname(dassl.__file__)})"
else:
    from .checkpoint import load_checkpoint, load_pretrained_weights  # noqa: E402,F401
    from .config import get_cfg_default  # noqa: E402,F401
    from .data import DATASET_REGISTRY, DataManager, DatasetBase, DatasetWrapper, Datum  # noqa: E402,F401
    from .evaluation import build_evaluator, compute_accuracy  # noqa: E402,F401
    from .optim import build_lr_scheduler, build_optimizer  # noqa: E402,F401
    from .trainer import TRAINER_REGISTRY, TrainerX, build_trainer  # noqa: E402,F401
    from .transforms import build_transform  # noqa: E402,F401
    from .utils import (  # noqa: E402,F401
        check_isfile,
        collect_env_info,
        listdir_nohidden,
        mkdir_if_missing,
        read_json,
        set_random_seed,
        setup_logger,
        write_json,
    )

    BACKEND_DESCRIPTION = "built-in engine (engine/, the Dassl API subset)"

__all__ = [
    "BACKEND",
    "BEST_NAME",
    "CONSOLE",
    "DASSL_RESULT_KEYS",
    "PROGRESS",
    "PeakMemory",
    "ResultKeys",
    "RunFolder",
    "StepTimer",
    "BackendError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "ImageReadError",
    "NonFiniteLossError",
    "RunFolderError",
    "UserError",
    "WeightsError",
    "BACKEND_CHOICES",
    "BACKEND_DESCRIPTION",
    "BACKEND_ENV",
    "DATASET_REGISTRY",
    "DataManager",
    "DatasetBase",
    "DatasetWrapper",
    "Datum",
    "TRAINER_REGISTRY",
    "TrainerX",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "build_evaluator",
    "build_lr_scheduler",
    "build_optimizer",
    "build_trainer",
    "build_transform",
    "check_config_fits",
    "check_isfile",
    "checkpoint_epochs",
    "closest_names",
    "close_logger",
    "checkpoint_name",
    "config_differences",
    "describe_differences",
    "file_digests",
    "file_input",
    "flatten_config",
    "collect_env_info",
    "compute_accuracy",
    "get_cfg_default",
    "get_logger",
    "latest_checkpoint",
    "listdir_nohidden",
    "load_checkpoint",
    "load_fitting_state",
    "log_file_path",
    "load_pretrained_weights",
    "mkdir_if_missing",
    "model_file",
    "prune_checkpoints",
    "quiet_logs",
    "read_image",
    "read_json",
    "set_random_seed",
    "set_verbose",
    "setup_logger",
    "sha256_file",
    "unknown_name_message",
    "write_json",
    "write_log_file",
]
