"""Committed pose models (`pose_default.onnx`, written by `camerapose export`); a package only so
that non-editable installs carry the ONNX files as package data."""
