"""Open an HTML report in a real headless Chromium (Debian's) and check it renders.

Uses Playwright's Python driver with the system Chromium (``/usr/bin/chromium``; no browser
download). Skips with a clear reason when either is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    pytest.skip("Debian chromium is not installed (apt-get install chromium); .ci/run installs it")


def check_page(html_path: Path, screenshot: Path) -> dict:
    """Load the page; return console errors, image counts and the screenshot as an array."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright (Python driver) is not installed")
    exe = chromium_path()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(Path(html_path).resolve().as_uri())
            page.wait_for_load_state("load")
            n_images = page.evaluate("document.images.length")
            n_rendered = page.evaluate(
                "Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0).length")
            # each image's on-screen box, to check its pixels in the screenshot
            boxes = page.evaluate(
                "Array.from(document.images).map(i => {const r = i.getBoundingClientRect();"
                " return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height];})")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    from PIL import Image

    shot = np.asarray(Image.open(screenshot).convert("RGB"))
    return {"errors": errors, "n_images": n_images, "n_rendered": n_rendered, "boxes": boxes, "screenshot": shot}


def assert_renders(html_path: Path, tmp_path: Path, min_images: int = 1) -> dict:
    """No console errors, every image decoded, and every plot visibly drawn in the screenshot."""
    r = check_page(html_path, tmp_path / "screenshot.png")
    assert r["errors"] == [], f"console errors: {r['errors']}"
    assert r["n_images"] >= min_images
    assert r["n_rendered"] == r["n_images"], f"{r['n_images'] - r['n_rendered']} images failed to render"
    shot = r["screenshot"].astype(np.float64)
    for x, y, w, h in r["boxes"]:
        x0, y0 = int(x), int(y)
        crop = shot[y0 : y0 + int(h), x0 : x0 + int(w)]
        assert crop.size > 0 and crop.std() > 5.0, f"image at {x0},{y0} looks blank in the screenshot"
    return r
