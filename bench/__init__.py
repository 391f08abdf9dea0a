"""Speed and memory benchmark of the CLIP prompt-tuning trainers (``python -m bench.bench --help``)."""
