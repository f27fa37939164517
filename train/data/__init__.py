"""Datasets. Each loader returns a `PoseSet`: normalised 2D inputs + confidences, ground-truth 2D,
root-relative 3D in the camera frame (metres) where known, the camera where known, and flags."""

from .base import PoseSet, concat

__all__ = ["PoseSet", "concat"]
