"""TRC files from `camerapose convert` as OpenSim itself reads them (opensim 4.6, the `dev` extra),
and the `--markers pose2sim` marker set (docs/files.md, TRC)."""

from __future__ import annotations

from pathlib import Path

import msgpack
import numpy as np
import pytest

from camerapose.cli import main
from camerapose.runtime.files.markers import MARKER_SETS
from camerapose.runtime.files.tracks import JOINT_NAMES
from camerapose.runtime.wire.record import MAGIC, read_recording

REPO = Path(__file__).resolve().parents[2]
DEMO_RECORDING = REPO / "tests" / "data" / "demo_two_people.cprec"  # id 1: frames 20-99, id 2: 40-99
GAP = range(60, 70)  # frames dropped from the demo: both tracks miss them

# Pose2Sim 0.10.49, OpenSim_Setup/Markers_Halpe26.xml (its default body model) and Markers_Coco17.xml
HALPE26_MARKERS = {"Nose", "Head", "Neck", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist", "RWrist",
                   "Hip", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle", "LBigToe", "LSmallToe",
                   "LHeel", "RBigToe", "RSmallToe", "RHeel"}
COCO17_MARKERS = {"Nose", "Neck", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist", "RWrist",
                  "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle"}


def convert(*argv: str) -> int:
    return main(["convert", *argv, "-q"])


@pytest.fixture(scope="module")
def demo_with_gap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo recording without the messages of frames 60-69: a gap in both tracks."""
    path = tmp_path_factory.mktemp("gap") / "demo_gap.cprec"
    with open(path, "wb") as f:
        f.write(MAGIC)
        for t, topic, payload in read_recording(DEMO_RECORDING):
            if msgpack.unpackb(payload, raw=False)["frame"] not in GAP:
                f.write(msgpack.packb([t, topic, payload], use_bin_type=True))
    return path


def trc_rows(path: Path) -> tuple[dict[str, str], list[str], np.ndarray]:
    """(header, marker names, data (rows, 2 + 3M) floats) of a TRC file, as written."""
    lines = path.read_text().split("\n")
    header = dict(zip(lines[1].split("\t"), lines[2].split("\t"), strict=True))
    names = [n for n in lines[3].split("\t")[2:] if n]
    return header, names, np.array([line.split("\t") for line in lines[6:] if line], float)


@pytest.mark.parametrize("markers", ["h36m", "pose2sim"])
@pytest.mark.parametrize("world", [False, True], ids=["camera", "world"])
@pytest.mark.parametrize("source", ["demo", "demo_with_gap"])
def test_every_trc_convert_writes_loads_in_opensim_with_its_rows_and_markers(
    source: str, world: bool, markers: str, demo_with_gap: Path, tmp_path: Path
) -> None:
    opensim = pytest.importorskip("opensim", reason="opensim 4.6 is in the dev extra: pip install opensim")
    src = DEMO_RECORDING if source == "demo" else demo_with_gap
    assert convert(str(src), "--to", "trc", "--markers", markers, "--out", str(tmp_path),
                   *(["--world"] if world else [])) == 0
    paths = sorted(tmp_path.glob("*.trc"))
    assert [p.name for p in paths] == [f"{src.stem}_0_id{i}.trc" for i in (1, 2)]
    for path, first in zip(paths, (20, 40), strict=True):
        header, names, data = trc_rows(path)
        table = opensim.TimeSeriesTableVec3(str(path))
        assert table.getNumRows() == int(header["NumFrames"]) == len(data) == 100 - first
        assert list(table.getColumnLabels()) == names == list(MARKER_SETS[markers][1])
        assert int(header["NumMarkers"]) == len(names)
        flat = table.flatten()  # kept: getMatrix() is a view into it
        got = flat.getMatrix().to_numpy()  # (rows, 3M) millimetres, NaN where missing
        np.testing.assert_allclose(np.array(table.getIndependentColumn()), data[:, 1])
        np.testing.assert_allclose(got, data[:, 2:], atol=1e-9)
        gap = np.isin(data[:, 0] - 1, GAP) if source == "demo_with_gap" else np.zeros(len(data), bool)
        assert np.isnan(got[gap]).all() and np.isfinite(got[~gap]).all()


def test_trc_gap_rows_are_nan_cells_with_the_full_row_length(demo_with_gap: Path, tmp_path: Path) -> None:
    assert convert(str(demo_with_gap), "--to", "trc", "--out", str(tmp_path)) == 0
    lines = (tmp_path / "demo_gap_0_id1.trc").read_text().split("\n")[6:-1]
    assert len(lines) == 80
    for line in lines:
        cells = line.split("\t")
        assert len(cells) == 2 + 3 * len(JOINT_NAMES) and all(cells)
        assert (int(cells[0]) - 1 in GAP) == (cells[2:] == ["NaN"] * (3 * len(JOINT_NAMES)))


def test_pose2sim_markers_are_pose2sim_names_on_the_matching_joints(tmp_path: Path) -> None:
    for markers in ("h36m", "pose2sim"):
        assert convert(str(DEMO_RECORDING), "--to", "trc", "--markers", markers,
                       "--out", str(tmp_path / markers)) == 0
    _, ours, h36m = trc_rows(tmp_path / "h36m" / "demo_two_people_0_id1.trc")
    _, names, p2s = trc_rows(tmp_path / "pose2sim" / "demo_two_people_0_id1.trc")
    assert COCO17_MARKERS <= set(names) <= HALPE26_MARKERS  # Coco17's set whole, Halpe26's but the feet
    same = {"Hip": "Pelvis", "Neck": "Thorax", "Nose": "Neck", "RAnkle": "RFoot", "LAnkle": "LFoot"}
    np.testing.assert_array_equal(p2s[:, :2], h36m[:, :2])
    for i, name in enumerate(names):
        j = ours.index(same.get(name, name))
        np.testing.assert_array_equal(p2s[:, 2 + 3 * i:5 + 3 * i], h36m[:, 2 + 3 * j:5 + 3 * j])


def test_pose2sim_markers_name_the_c3d_points(tmp_path: Path) -> None:
    ezc3d = pytest.importorskip("ezc3d")
    assert convert(str(DEMO_RECORDING), "--to", "c3d", "--markers", "pose2sim", "--out", str(tmp_path)) == 0
    c3d = ezc3d.c3d(str(tmp_path / "demo_two_people_0_id2.c3d"))
    assert c3d["parameters"]["POINT"]["LABELS"]["value"] == list(MARKER_SETS["pose2sim"][1])
    assert c3d["data"]["points"].shape == (4, 16, 60)


def test_markers_for_a_format_without_marker_names_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert convert(str(DEMO_RECORDING), "--to", "csv", "--markers", "pose2sim", "--out", str(tmp_path)) == 2
    with pytest.raises(SystemExit) as exit_:
        convert(str(DEMO_RECORDING), "--to", "trc", "--markers", "coco", "--out", str(tmp_path))
    assert exit_.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(err) == 2, err
    assert "--markers pose2sim is for trc and c3d files, not csv" in err[0] and "pose2sim" in err[1]
    assert list(tmp_path.iterdir()) == []
