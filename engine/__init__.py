"""The built-in lean engine: the subset of the Dassl API that CoOp-family trainers use.

Written for this project (it is not Dassl's code) and kept small by leaning on torch,
torchvision, yacs, tabulate and tqdm. Nothing in this package names Dassl: trainers, dataset
readers and ``train.py`` import every Dassl-like symbol through :mod:`engine.seam`, which picks
the real Dassl when it is installed and this engine otherwise.
"""
