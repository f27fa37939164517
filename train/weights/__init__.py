"""Shipped weights: default.pt, trained by train/configs/synthetic.toml (see docs/training.md)."""
