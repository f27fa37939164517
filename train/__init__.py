"""Torch training of the CameraPose method: datasets, models, losses, schedule, evaluation.

- `models`: RefineNet -> lifter (Martinez residual MLP behind the `Lifter` interface) -> camera
  branch, composed as `PoseModel` (the contract the engines export); the pose augmentor's
  generator and KCS discriminators.
- `losses`: Eq. 3-4 (L_ref), 7 (L_2D), 8 (L_cam), 9 (L_3D), 16-17 (combinations), 12-15 (LS-GAN).
- `data`: Human3.6M (VideoPose3D layout), MPII (HRNet JSON), COCO, MPI-INF-3DHP, 3DPW, detections
  files, and the synthetic source that trains the default weights.
- `loop` (the three-step schedule), `config` (TOML + --set), `checkpoint` (load_pose_model),
  `evaluate`, `distributed` (torchrun DDP), `cli` (`camerapose train`, `camerapose eval`).
See docs/training.md.
"""
