"""The protocols of the CoOp family as data, and the runner that carries them out.

- :mod:`protocols.definitions`: base-to-new, cross-dataset/DG and few-shot learning: steps,
  shots, tables, run folders (which datasets take part comes from the benchmarks' own facts,
  which methods and recipes from the methods' specs, ``trainers.METHODS``);
- :mod:`protocols.plan`: a selection -> the runs to make, each with its config (built once);
- :mod:`protocols.execute`: running them one after another, several at once on this machine, or
  as a SLURM job array (submitit);
- :mod:`protocols.jobs`: the jobs of those launchers: their command (it finds the project's
  code by itself), which job runs which step, what a job that died says;
- :mod:`protocols.cli`: ``python sweep.py`` and the ``scripts/<method>/*.sh`` wrappers.
"""
from .definitions import PROTOCOLS, Protocol, RunPath, Step, TableSpec, protocol_for, register_protocol

__all__ = ["PROTOCOLS", "Protocol", "RunPath", "Step", "TableSpec", "protocol_for", "register_protocol"]
