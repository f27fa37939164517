"""Torch training of the CameraPose method: datasets, pose augmentor, losses, schedule, evaluation.

- `augment`: the pose augmentor's generator and KCS discriminators. The network trained here
  (`PoseModel`) and its checkpoints are `camerapose.models`.
- `losses`: Eq. 3-4 (L_ref), 7 (L_2D), 8 (L_cam), 9 (L_3D), 16-17 (combinations), 12-15 (LS-GAN).
- `data`: Human3.6M (VideoPose3D layout), MPII (HRNet JSON), COCO, MPI-INF-3DHP, 3DPW, detections
  files, and the synthetic source that trains the default weights.
- `loop` (the three-step schedule), `config` (TOML + --set), `evaluate`, `distributed` (torchrun
  DDP), `cli` (`camerapose train`, `camerapose eval`).
See docs/training.md.
"""
