"""The pose model and its checkpoints (torch): what training writes and the engines load.

- `pose`: RefineNet -> lifter (Martinez residual MLP behind the `Lifter` interface) -> camera
  branch, composed as `PoseModel`, each built from a frozen config dataclass.
- `checkpoint`: the checkpoint format, `save_checkpoint`, `read_checkpoint` and `load_pose_model`
  (rebuilds the model from the file alone).

Imported by `train` (which trains it) and lazily by `engines` (export, the torch runner) and
`benchmarks`; it imports only `core` (and the asset cache's hashing), never train, engines, runtime
or benchmarks. It needs torch: the runtime never imports it.
"""
