"""The protocols of the CoOp family as data, and the runner that carries them out.

- :mod:`protocols.definitions`: base-to-new, cross-dataset/DG and few-shot learning: steps,
  shots, run folders (which datasets take part comes from the benchmarks' own facts);
- :mod:`protocols.methods`: the methods and their published recipes;
- :mod:`protocols.plan`: a selection -> the runs to make and their ``train.py`` commands;
- :mod:`protocols.execute`: running them one after another, several at once on this machine, or
  as a SLURM job array (submitit);
- :mod:`protocols.cli`: ``python sweep.py`` and the ``scripts/<method>/*.sh`` wrappers.
"""
from .definitions import PROTOCOLS, Protocol, Step, protocol_for
from .methods import METHODS, Method, method_for

__all__ = ["METHODS", "PROTOCOLS", "Method", "Protocol", "Step", "method_for", "protocol_for"]
