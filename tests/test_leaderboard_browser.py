"""A real browser (headless Chromium, Debian's ``chromium`` package) loads the rendered board.

Skipped when ``chromium`` is not installed (``apt-get install -y chromium`` takes about a
minute, which CI does not spend); select it with ``pytest -m browser``.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

pytest.importorskip("rliable", reason="the stats extra is not installed")

from leaderboard_helpers import submission, text  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"),
]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--virtual-time-budget=2000"]
PAYLOAD = '<script>document.title="pwned"</script>'
IMG_PAYLOAD = "<img src=x onerror=\"document.title='pwned'\">"


def chromium(*args: str) -> str:
    done = subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def plot_blue_pixels(png) -> int:
    """Pixels of matplotlib's first colour (#1f77b4): only the board's plots draw them."""
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=int)
    return int((np.abs(pixels - [31, 119, 180]).sum(axis=-1) < 30).sum())


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from metabench.leaderboard.render import render
    from metabench.leaderboard.store import Store

    store = Store(tmp_path_factory.mktemp("board"), reps=100)
    store.submit(text(submission("thompson")), rebuild=False)
    hostile = submission("random", name=PAYLOAD)
    hostile["method"]["authors"] = [IMG_PAYLOAD]
    store.submit(text(hostile))
    html, _ = render(store)
    return html


def test_detection_works_on_an_unescaped_page(tmp_path):
    # The check below would see a script run: here one does.
    bad = tmp_path / "bad.html"
    bad.write_text(f"<html><head><title>board</title></head><body>{PAYLOAD}</body></html>")
    assert "<title>pwned</title>" in chromium("--dump-dom", bad.as_uri())


def test_the_browser_shows_tables_and_images_and_runs_no_submitted_script(page, tmp_path):
    dom = chromium("--dump-dom", page.as_uri())
    assert "<title>metabench leaderboard</title>" in dom and "pwned" not in dom.split("</title>")[0]
    assert len(re.findall(r"<table\b", dom)) == 2  # the overall table and MetaBandit-v0's
    assert len(re.findall(r"<img\b", dom)) == 2  # its CI whiskers and adaptation curves
    assert '&lt;script&gt;document.title="pwned"&lt;/script&gt;' in dom  # shown as text
    assert "<script" not in dom

    shot = tmp_path / "board.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri())
    drawn = plot_blue_pixels(shot)
    # Without the image files the same page draws none of those pixels: they come from the plots.
    hidden = tmp_path / "no-images"
    shutil.copytree(page.parent, hidden)
    for png in hidden.glob("*.png"):
        png.unlink()
    empty = tmp_path / "empty.png"
    chromium(f"--screenshot={empty}", "--window-size=1280,1600", (hidden / "index.html").as_uri())
    assert drawn > 500 and plot_blue_pixels(empty) < 50, (drawn, plot_blue_pixels(empty))
