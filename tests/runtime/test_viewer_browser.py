"""The viewer in a real headless browser (Chromium through Selenium) on the live demo: the page
counts the messages it receives, draws the skeletons, pauses, and closing the browser or the
viewer leaves the runtime publishing; and on the world stream of Pose2Sim's four calibrated views.

Skipped where Chromium, its driver or Selenium are missing: `make test-browser` installs them.
CAMERAPOSE_SCREENSHOT=PATH also saves the window as a PNG (the README's picture, docs/img/), and
CAMERAPOSE_SCREENSHOT_WORLD=PATH the world view's (docs/img/viewer_world.png).
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from camerapose.runtime import subscribe

from ..conftest import pose2sim_demo
from .conftest import start_runtime

pytestmark = [pytest.mark.slow, pytest.mark.assets]
WINDOW = (960, 600)


def _find(*names: str) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


@pytest.fixture
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("no selenium (make test-browser installs it)")
    chromium = _find("chromium", "chromium-browser", "google-chrome")
    driver_path = _find("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("no chromium + chromedriver (make test-browser installs them)")
    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars",
                "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)  # the local driver, no download
    # The page's size exactly (a headless window's size includes its frame).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False})
    yield driver
    try:
        driver.quit()
    except Exception:  # already closed by the test
        pass


def lines_of(proc: subprocess.Popen) -> queue.Queue:
    """The process's output lines, read in a thread (so a test can wait with a deadline)."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True).start()
    return lines


def wait_for_url(lines: queue.Queue, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if line.startswith("camerapose view: http://"):
            return line.split()[2]
    pytest.fail("the viewer printed no URL:\n" + "".join(seen))


def start_viewer(endpoint: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "camerapose", "view", "--endpoint", endpoint, "--http", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    return proc, wait_for_url(lines_of(proc), 30)


def count(driver, css: str) -> int:
    return int(driver.find_element("css selector", css).text)


def person_pixels(png: bytes, palette: list[str], tolerance: int = 12) -> dict[str, int]:
    """Pixels of each person colour (#rrggbb) in a screenshot, within `tolerance` per channel."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).astype(int)  # BGR
    out = {}
    for colour in palette:
        rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
        out[colour] = int((np.abs(image - rgb[::-1]).max(axis=2) <= tolerance).sum())
    return out


def save_screenshot(png: bytes, path: str) -> None:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(path, image, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def test_the_page_draws_the_live_demo_and_the_runtime_outlives_browser_and_viewer(
    browser, demo_video: Path, pose_model: Path, port: int
) -> None:
    endpoint = f"tcp://127.0.0.1:{port}"
    runtime = start_runtime(["--source", str(demo_video), "--loop", "--model", str(pose_model)], endpoint)
    viewer = None
    try:
        viewer, url = start_viewer(endpoint)  # the runtime waits for this subscriber
        browser.get(url)
        deadline = time.monotonic() + 90  # the runtime's start: models, detector
        while count(browser, "#frames") == 0:
            assert time.monotonic() < deadline and runtime.poll() is None, "no message reached the page"
            time.sleep(0.1)
        t0, start = time.monotonic(), count(browser, "#frames")
        while count(browser, "#frames") - start <= 30 and time.monotonic() - t0 < 10:
            time.sleep(0.1)
        received = count(browser, "#frames") - start
        assert received > 30, f"{received} messages in 10 s"

        time.sleep(1.0)  # a few more frames: the grid's floor settles under the feet
        palette = browser.execute_script("return window.cameraposeViewer.palette")
        canvas = browser.find_element("id", "view").screenshot_as_png
        pixels = person_pixels(canvas, palette)
        assert sum(pixels.values()) > 500, pixels  # two people's bones, 4 px wide
        if os.environ.get("CAMERAPOSE_SCREENSHOT"):
            save_screenshot(browser.get_screenshot_as_png(), os.environ["CAMERAPOSE_SCREENSHOT"])
        assert float(browser.find_element("id", "fps").text) > 3
        assert browser.find_element("id", "latency").text.endswith(" ms")
        assert "total" in browser.find_element("id", "timings").text
        assert browser.find_element("id", "stream").get_attribute("value") == "0"

        browser.find_element("id", "pause").click()  # the picture holds, the counting goes on
        frame, before = browser.find_element("id", "frame").text, count(browser, "#frames")
        time.sleep(1.0)
        assert browser.find_element("id", "frame").text == frame and count(browser, "#frames") > before
        browser.find_element("id", "pause").click()

        browser.quit()  # closing the browser: the viewer and the runtime go on
        time.sleep(0.5)
        assert viewer.poll() is None and runtime.poll() is None
        viewer.kill()  # the viewer dies: the runtime still publishes to whoever subscribes
        viewer.wait()
        got = [m["frame"] for _, m in zip(range(10), subscribe(endpoint, timeout=10), strict=False)]
        assert len(got) == 10 and runtime.poll() is None
    finally:
        if viewer is not None and viewer.poll() is None:
            viewer.kill()
            viewer.wait()
        runtime.send_signal(signal.SIGTERM)
        try:
            runtime.wait(20)
        except subprocess.TimeoutExpired:
            runtime.kill()
            runtime.wait()


def test_the_page_shows_the_world_stream_of_four_calibrated_cameras(browser, assets_dir: Path,
                                                                    tmp_path: Path) -> None:
    """Pose2Sim's four views fused (`run --calibration --every-frame --save x.mcap`), replayed in a
    loop: the page switches to the world stream by itself and draws the two world ids, the four
    calibrated cameras and the floor; picking a camera's stream goes back to its view and stays.
    CAMERAPOSE_SCREENSHOT_WORLD=PATH saves the window (docs/img/viewer_world.png)."""
    from .conftest import free_port

    videos, calib = pose2sim_demo(assets_dir)
    saved = tmp_path / "world.mcap"
    sources = [a for v in videos for a in ("--source", str(v))]
    run = subprocess.run([sys.executable, "-m", "camerapose", "run", *sources,
                          "--calibration", str(calib), "--every-frame", "--save", str(saved),
                          "--publish", f"tcp://127.0.0.1:{free_port()}", "--stats-every", "0", "-q"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    replay = subprocess.Popen([sys.executable, "-m", "camerapose", "replay", str(saved), "--loop",
                               "--publish", endpoint], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    viewer = None
    try:
        viewer, url = start_viewer(endpoint)
        browser.get(url)
        deadline = time.monotonic() + 30
        while not browser.find_element("id", "mode").text.startswith("world"):
            assert time.monotonic() < deadline and replay.poll() is None, "the page never showed the world"
            time.sleep(0.1)
        assert browser.find_element("id", "stream").get_attribute("value") == "world"
        assert browser.find_element("id", "mode").text == "world, z up, 4 cams"  # Qualisys: z up
        while int(browser.find_element("id", "frame").text) < 40:  # both people well in the room
            assert time.monotonic() < deadline
            time.sleep(0.05)
        browser.find_element("id", "pause").click()
        time.sleep(0.3)
        people = browser.find_element("id", "people").text.splitlines()
        assert people[0] == "#1" and people[2] == "#2" and all("cameras" in ln for ln in people[1::2]), people
        shown = browser.execute_script("return window.cameraposeViewer.state.shown")
        assert shown["type"] == "world" and len(shown["cameras"]) == 4 and shown["up"] == [0, 0, 1]
        palette = browser.execute_script("return window.cameraposeViewer.palette")
        canvas = browser.find_element("id", "view").screenshot_as_png
        pixels = person_pixels(canvas, palette)
        assert sum(pixels.values()) > 500, pixels  # two skeletons, 4 px wide
        assert person_pixels(canvas, ["#aab4c8"], tolerance=20)["#aab4c8"] > 400  # the four frustums
        browser.find_element("id", "pause").click()
        if os.environ.get("CAMERAPOSE_SCREENSHOT_WORLD"):
            time.sleep(0.2)
            save_screenshot(browser.get_screenshot_as_png(), os.environ["CAMERAPOSE_SCREENSHOT_WORLD"])

        from selenium.webdriver.support.ui import Select

        Select(browser.find_element("id", "stream")).select_by_value("0")  # a camera, by hand
        time.sleep(1.0)  # world messages keep coming: the page stays on the camera picked
        assert browser.find_element("id", "mode").text == "camera 0"
        assert browser.execute_script("return window.cameraposeViewer.state.shown.type") == "pose"
    finally:
        if viewer is not None and viewer.poll() is None:
            viewer.kill()
            viewer.wait()
        replay.terminate()
        replay.wait(10)
