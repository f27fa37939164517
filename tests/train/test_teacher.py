"""The teacher set (real frames with BlazePose's 3D as a weak target) and its loss."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from camerapose.core.errors import InputError
from camerapose.core.skeleton import Joint
from camerapose.train.data.teacher import load_teacher
from camerapose.train.losses import teacher_loss


def _person(world: bool, rng: np.random.Generator) -> dict:
    p = {"id": 1, "kp2d": (rng.uniform(100, 500, (17, 2))).tolist(),
         "conf": rng.uniform(0.5, 1, 17).tolist(), "box": [0, 0, 1, 1], "score": 1.0}
    if world:
        w = rng.normal(0, 0.3, (17, 3))
        p["kp3d_teacher"] = (w - w[0]).tolist()
    return p


def test_detect_json_lines_become_2d_only_samples_with_a_teacher(tmp_path):
    rng = np.random.default_rng(0)
    f = tmp_path / "t.jsonl"
    first = [_person(True, rng), _person(False, rng)]  # the second has no 3D: not a teacher sample
    frames = [{"frame": 0, "t": 0.0, "image_size": [640, 480], "persons": first},
              {"frame": 1, "t": 0.03, "image_size": [640, 480], "persons": [_person(True, rng)]}]
    f.write_text("\n".join(json.dumps(x) for x in frames) + "\n")
    poses = load_teacher([str(f)], repeat=3)
    assert len(poses) == 6  # 2 person-frames with a 3D pose, 3 times each
    assert poses.has_teacher.all() and not poses.has_3d.any() and not poses.has_camera.any()
    assert np.allclose(poses.kp3d[0], np.asarray(frames[0]["persons"][0]["kp3d_teacher"]), atol=1e-6)
    assert np.all(poses.kp3d[:, Joint.PELVIS] == 0)
    assert np.all(np.abs(poses.kp2d) < 1.01)  # normalised screen coordinates


@pytest.mark.parametrize("text,word", [("not json\n", "not a `camerapose detect --json` line"),
                                       ('{"frame": 0, "persons": []}\n', "image_size"),
                                       ('{"frame": 0, "image_size": [4, 4], "persons": []}\n', "no person")])
def test_bad_teacher_files_are_one_line_errors(tmp_path, text, word):
    f = tmp_path / "bad.jsonl"
    f.write_text(text)
    with pytest.raises(InputError, match=word) as err:
        load_teacher([str(f)])
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="not found"):
        load_teacher([str(tmp_path / "missing.jsonl")])


def test_teacher_loss_ignores_scale_and_the_head_and_sees_shape():
    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(4, 17, 3, generator=g)
    mask = torch.ones(4, dtype=torch.bool)
    assert float(teacher_loss(1.7 * teacher, teacher, mask)) < 1e-10  # BlazePose's scale is not ours
    moved = teacher.clone()
    moved[:, Joint.HEAD] += 0.5  # head top vs eyes: a different joint
    assert float(teacher_loss(moved, teacher, mask)) < 1e-10
    bent = teacher.clone()
    bent[:, Joint.LWRIST] += 0.3
    assert float(teacher_loss(bent, teacher, mask)) > 1e-3
    assert float(teacher_loss(bent, teacher, torch.zeros(4, dtype=torch.bool))) == 0.0
