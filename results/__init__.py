"""Results you can put in a paper: run logs -> seed-averaged tables and figures.

MuDPT (arXiv 2306.11400), CoOp, CoCoOp and zero-shot CLIP runs each write a ``log.txt`` into
their output folder. ``python parse_results.py DIR`` finds every run below ``DIR``, reads the
final test result of each, averages over seeds and prints one table per protocol (base-to-new,
cross-dataset and domain generalisation, few-shot, zero-shot on all classes, and "other" for
paths in no known layout), with the effective settings of the runs in each caption; runs without
a result are listed with the reason, repeated runs of one seed are listed and counted once.

- :mod:`results.logs`: one Dassl log -> its result or why it has none (``--status``);
- :mod:`results.settings`: a run's config -> the settings its captions name;
- :mod:`results.benchmarks`: dataset names, order and protocol roles, from ``datasets.SPECS``
  and ``protocols.PROTOCOLS``;
- :mod:`results.layouts`: run folders -> what each measures (protocol, method, config, shots,
  dataset, role, prefix) and its seed;
- :mod:`results.tables`: seed averages and the tables (and the cost columns, ``--cost``);
  :mod:`results.grids`: the tables of a ``sweep.py --grid`` (``--grid KEY``);
  :mod:`results.render`: text, markdown, LaTeX and CSV; :mod:`results.plots`: PNG figures
  (``--plot DIR``);
- :mod:`results.cli`: the command line.

It reads the logs of this repository and those written by the CoOp, CoCoOp, MaPLe, PromptSRC and
MuDPT repositories (older Dassl versions), in their output layouts (see :mod:`results.layouts`).
"""
