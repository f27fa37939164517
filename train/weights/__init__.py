"""Shipped weights: default.pt, trained by train/configs/default.toml (see docs/training.md)."""
