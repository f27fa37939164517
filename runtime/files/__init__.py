"""Pose files: messages read from recordings and JSON lines (messages.py), grouped into tracks
(tracks.py), written as BVH, TRC, C3D (one file per track) or CSV, JSON lines, npz (message by
message: save.py's open_writer); the maths they need (kinematics.py, ground.py); `camerapose
convert` (convert.py, cli.py). docs/files.md describes the formats."""
