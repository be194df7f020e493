"""The HTML report builder: self-contained pages that render in a real browser."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from browser import assert_renders
from camforge.report import Figure, Section, Table, figure_to_data_uri, image_to_data_uri, render_page, write_page


def test_page_is_self_contained_and_escapes_text(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    html = render_page("T <1>", [Section("S & T", ["a <b>"], [Table(["x"], [[1.23456789]])],
                                          [Figure(figure_to_data_uri(fig), "c")])])
    assert "T &lt;1&gt;" in html and "a &lt;b&gt;" in html and "1.235" in html
    assert "http://" not in html and "https://" not in html  # no external assets
    assert html.count("data:image/png;base64,") == 1


def test_page_renders_in_chromium(tmp_path):
    fig, ax = plt.subplots()
    ax.plot(np.sin(np.linspace(0, 6, 50)))
    img = (np.random.default_rng(0).random((40, 60, 3)) * 255).astype(np.uint8)
    p = write_page(tmp_path / "r.html", "Report", [
        Section("Plot", figures=[Figure(figure_to_data_uri(fig), "a sine")]),
        Section("Image", figures=[Figure(image_to_data_uri(img), "noise")], tables=[Table(["a", "b"], [[1, None]])]),
    ])
    assert_renders(p, tmp_path, min_images=2)
