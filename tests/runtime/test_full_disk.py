"""A full disk: `subscribe > /dev/full`, `record` and the message writers (`run --save`, convert) on
a full filesystem end with one line naming the path and ENOSPC and exit 2, and what was written
before stays whole and readable (no half line, record or zip file at the end).

/dev/full gives ENOSPC on every write. A filesystem that fills up part-way is a regular file under
RLIMIT_FSIZE in a subprocess: its writes stop part-way the same way, with EFBIG."""

from __future__ import annotations

import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest

from camerapose.cli import main as cli
from camerapose.core.errors import InputError
from camerapose.runtime.files.csv import HEADER
from camerapose.runtime.files.messages import read_messages
from camerapose.runtime.files.save import open_writer
from camerapose.runtime.wire.record import MAGIC, read_recording

from .conftest import free_port

REPO = Path(__file__).resolve().parents[2]
DEMO_RECORDING = REPO / "tests" / "data" / "demo_two_people.cprec"
FULL = Path("/dev/full")
FILE_LIMIT = 12_000  # bytes a "filling" file may grow to: a few messages

pytestmark = pytest.mark.skipif(not FULL.is_char_device(), reason="needs /dev/full (Linux)")


@pytest.fixture(scope="module")
def payloads() -> list[tuple[str, bytes]]:
    """(stream, payload) of the first 5 messages of a real run (about 2.7 kB each as JSON)."""
    return [("0", p) for _, (_, _, p) in zip(range(5), read_recording(DEMO_RECORDING), strict=False)]


def small_files() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def camerapose(*argv: str, stdout=subprocess.PIPE, limit_files: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "camerapose", *argv], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=60, preexec_fn=small_files if limit_files else None)


def assert_one_line(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert all(w in r.stderr for w in words), r.stderr


# -- subscribe -------------------------------------------------------------------------------------
def test_subscribe_json_to_dev_full_is_one_line_naming_it_and_enospc(payloads, publishing) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with publishing(endpoint, payloads), open(FULL, "w") as full:
        r = camerapose("subscribe", "--endpoint", endpoint, "--json", "--count", "20", "--timeout", "20",
                       stdout=full)
    assert_one_line(r, "stdout (/dev/full): cannot write (No space left on device, ENOSPC)")


def test_subscribe_into_a_filling_file_keeps_only_whole_lines(payloads, publishing, tmp_path: Path) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    out = tmp_path / "out.jsonl"
    with publishing(endpoint, payloads), open(out, "w") as f:
        r = camerapose("subscribe", "--endpoint", endpoint, "--json", "--count", "50", "--timeout", "20",
                       stdout=f, limit_files=True)
    assert_one_line(r, f"stdout ({out}): cannot write", "EFBIG")
    text = out.read_text()
    assert text.endswith("\n") and 0 < len(text) <= FILE_LIMIT
    assert all(json.loads(line)["persons"] for line in text.splitlines())


# -- record ----------------------------------------------------------------------------------------
def test_record_to_dev_full_is_one_line_naming_it_and_enospc(payloads, publishing, capsys) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with publishing(endpoint, payloads):
        code = cli(["record", str(FULL), "--endpoint", endpoint, "--count", "5", "--timeout", "20"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "/dev/full: cannot write (No space left on device, ENOSPC)" in err
    assert FULL.is_char_device()


def test_record_on_a_filling_disk_keeps_whole_records(payloads, publishing, tmp_path: Path) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    path = tmp_path / "run.cprec"
    with publishing(endpoint, payloads):
        r = camerapose("record", str(path), "--endpoint", endpoint, "--count", "50", "--timeout", "20",
                       limit_files=True)
    assert_one_line(r, f"{path}: cannot write", "EFBIG", "the recording keeps the ")
    kept = int(r.stderr.split("keeps the ")[1].split()[0])
    data = path.read_bytes()
    assert data.startswith(MAGIC) and kept > 0
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data[len(MAGIC):])
    assert len(list(unpacker)) == kept and unpacker.tell() == len(data) - len(MAGIC)  # no half record
    assert len(list(read_messages(path))) == kept  # and it converts


# -- the message writers (run --save, convert --to csv|jsonl|npz) -----------------------------------
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "npz"])
def test_a_message_writer_on_dev_full_is_one_input_error_and_leaves_the_device(fmt: str) -> None:
    messages = list(read_messages(DEMO_RECORDING))[:20]
    with pytest.raises(InputError, match=r"^/dev/full: cannot write \(No space left on device, ENOSPC\)$"):
        with open_writer(FULL, fmt) as w:
            for msg in messages:
                w.write(msg)
    assert FULL.is_char_device()


WRITE_ALL = """
import sys
from camerapose.core.errors import InputError
from camerapose.runtime.files.messages import read_messages
from camerapose.runtime.files.save import open_writer
try:
    with open_writer(sys.argv[1]) as w:
        for msg in read_messages(sys.argv[2]):
            w.write(msg)
except InputError as err:
    print(err, file=sys.stderr)
    sys.exit(2)
"""


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "npz"])
def test_a_message_writer_on_a_filling_disk_keeps_whole_rows(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"poses.{fmt}"
    r = subprocess.run([sys.executable, "-c", WRITE_ALL, str(path), str(DEMO_RECORDING)], capture_output=True,
                       text=True, timeout=60, preexec_fn=small_files)
    assert_one_line(r, f"{path}: cannot write", "EFBIG")
    if fmt == "npz":
        assert not path.exists()  # no half zip file
        return
    text = path.read_text()
    assert text.endswith("\n") and 0 < len(text) <= FILE_LIMIT
    if fmt == "csv":
        rows = list(csv.reader(text.splitlines()))
        assert rows[0] == list(HEADER) and len(rows) > 1 and all(len(row) == len(HEADER) for row in rows)
    else:
        assert all(json.loads(line)["persons"] for line in text.splitlines())


@pytest.mark.parametrize("fmt", ["bvh", "trc"])
def test_convert_onto_a_full_disk_is_one_line_naming_the_file(fmt: str, tmp_path: Path) -> None:
    (tmp_path / f"demo_two_people_0_id1.{fmt}").symlink_to(FULL)
    r = camerapose("convert", str(DEMO_RECORDING), "--to", fmt, "--out", str(tmp_path), "-q")
    assert_one_line(r, f"demo_two_people_0_id1.{fmt}: cannot write (No space left on device, ENOSPC)")
    assert FULL.is_char_device()


# -- run --save ------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.assets
def test_run_save_on_a_full_disk_stops_the_run_with_one_line_no_restarts(demo_clip, tmp_path: Path) -> None:
    save = tmp_path / "poses.jsonl"
    save.symlink_to(FULL)  # a .jsonl path in a writable folder, every write of which fails
    t0 = time.monotonic()
    r = camerapose("run", "--source", str(demo_clip(10, 2)), "--every-frame", "--save", str(save),
                   "--publish", f"tcp://127.0.0.1:{free_port()}", "--stats-every", "0")
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert r.returncode == 2, r.stderr[-3000:]
    assert errors == [f"camerapose run: error: {save}: cannot write (No space left on device, ENOSPC)"], \
        r.stderr[-3000:]
    assert "Traceback" not in r.stderr and "restart" not in r.stderr, r.stderr[-3000:]
    assert time.monotonic() - t0 < 30
    assert FULL.is_char_device()
