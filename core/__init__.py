"""Pose math shared by training, engines and runtime: pure functions, numpy, no torch.

- `skeleton`  Human3.6M-17 joints, bones, symmetry, and the maps from other joint formats
- `camera`    the `Camera` type, projection, normalisation, the paper's reprojection K(X + t)
- `metrics`   MPJPE, P-MPJPE, N-MPJPE, PCK and AUC
- `shapes`    shape checks with errors that name the expected shape
- `errors`    the exception types the CLI turns into one-line messages
- `config`    the one config loader: dataclass defaults <- TOML file <- `--set key.path=value`
"""
