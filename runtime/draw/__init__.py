"""Pictures of the output: 2D overlays (annotate) and the annotated video / window with its 3D
inset (video)."""
