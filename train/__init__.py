"""Torch training of the CameraPose method: datasets, models, losses, schedule, evaluation."""
