"""THE config of a run: built once, from values, by everyone who needs one.

``train.py``, the protocol runner (``sweep.py``), the alignment analysis and the bench call
:func:`build_config` with values (the trainer, the config files, ``KEY VALUE`` overrides, the
data root, the seed, ...); nobody parses ``train.py``'s command line. The config module owns:

- :mod:`runconfig.defaults`: the default tree (Dassl's defaults, the datasets' keys, the shared
  CLIP keys and every method's node, from the methods' specs), the keys a method's runs have,
  and which keys cannot change results (:func:`result_keys`, a pure function of what the methods
  and the engine declare);
- :mod:`runconfig.merge`: merging config files (official key spellings of a method whose official
  code keeps its keys in another method's node) and ``KEY VALUE`` overrides, with errors that
  name the file, the key and the fix;
- :mod:`runconfig.build`: the merge order (defaults, dataset yaml, method yaml, values, overrides),
  the required keys, and the one validation of the config (the dataset keys, the engine's keys and
  the method's keys), and which keys the user set;
- :mod:`runconfig.checks`: the ranges of the engine's keys (learning rates, batch sizes, epochs);
- :mod:`runconfig.folder`: a config and its run folder: the input files a run depends on, what
  ``train.py`` would do with the folder (:func:`folder_action`), the same-split check of an
  evaluation.
"""
from .build import build_config, validate_config
from .defaults import config_keys, default_config, non_result_keys, recipe_config, result_keys
from .folder import bind_folder, check_same_split, data_inputs, data_root, folder_action, run_inputs
from .merge import merge_file, merge_overrides

__all__ = [
    "bind_folder",
    "build_config",
    "check_same_split",
    "config_keys",
    "data_inputs",
    "data_root",
    "default_config",
    "folder_action",
    "merge_file",
    "merge_overrides",
    "non_result_keys",
    "recipe_config",
    "result_keys",
    "run_inputs",
    "validate_config",
]
