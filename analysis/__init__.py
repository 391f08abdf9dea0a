"""Analyses of trained runs (``python -m analysis <command> ...``).

- ``alignment`` (:mod:`analysis.alignment`, :mod:`analysis.report`): does MuDPT restore the
  alignment of CLIP's image and text representations that uni-modal prompt tuning breaks? The
  modality gap, true-class cosine and margin, how far each tower moved from frozen CLIP (final
  features and per block), and per prompted layer how the two towers' prompts relate.
  ``docs/alignment.md`` defines every measure and gives the commands.
"""
