"""Self-contained HTML reports: one file, plots embedded as PNG data URIs, no external assets.

Pages are built from a list of :class:`Section` objects (a heading, optional paragraphs,
tables and figures) and rendered with Jinja2. Everything a report shows is also in its JSON
twin; the HTML is for people.
"""

from __future__ import annotations

import base64
import html as _html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from camforge.io.atomic import atomic_write_text


def figure_to_data_uri(fig, dpi: int = 110) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_to_data_uri(array) -> str:
    """An ``[H, W, 3]`` uint8 array (or ``[H, W]``) as a PNG data URI."""
    import numpy as np
    from PIL import Image as PILImage

    a = np.asarray(array)
    buf = io.BytesIO()
    PILImage.fromarray(a).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass
class Table:
    """A table: ``columns`` names and ``rows`` of cells (numbers are formatted with ``fmt``)."""

    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""
    fmt: str = "{:.4g}"

    def cells(self) -> list[list[str]]:
        out = []
        for r in self.rows:
            line = []
            for v in r:
                if isinstance(v, float):
                    line.append(self.fmt.format(v))
                elif v is None:
                    line.append("—")
                else:
                    line.append(str(v))
            out.append(line)
        return out


@dataclass
class Figure:
    """An embedded image (data URI) with a caption."""

    uri: str
    caption: str = ""
    alt: str = "plot"


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    anchor: str = ""


_TEMPLATE = jinja2.Template(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d2327;background:#fafafa}
header{background:#1f3b57;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;opacity:.85;font-size:13px}
nav{padding:8px 28px;background:#e9eef3;font-size:13px} nav a{margin-right:14px;color:#1f3b57}
main{padding:8px 28px 40px;max-width:1250px}
section{background:#fff;border:1px solid #dde3e8;border-radius:6px;padding:14px 18px;margin:16px 0}
h2{font-size:18px;margin:0 0 10px;color:#1f3b57}
table{border-collapse:collapse;margin:8px 0 14px;font-size:13px}
th,td{border:1px solid #d5dbe0;padding:4px 9px;text-align:right} th{background:#f0f3f6}
td:first-child,th:first-child{text-align:left}
caption{caption-side:bottom;font-size:12px;color:#5b6770;padding-top:4px;text-align:left}
figure{display:inline-block;margin:6px 12px 12px 0;vertical-align:top}
figure img{max-width:580px;border:1px solid #e3e7ea}
figcaption{font-size:12px;color:#5b6770;max-width:580px}
.muted{color:#5b6770;font-size:12px}
</style></head><body>
<header><h1>{{ title }}</h1>{% if subtitle %}<p>{{ subtitle }}</p>{% endif %}</header>
<nav>{% for s in sections %}<a href="#{{ s.anchor }}">{{ s.title }}</a>{% endfor %}</nav>
<main>
{% for s in sections %}<section id="{{ s.anchor }}"><h2>{{ s.title }}</h2>
{% for p in s.paragraphs %}<p>{{ p }}</p>{% endfor %}
{% for t in s.tables %}<table>{% if t.caption %}<caption>{{ t.caption }}</caption>{% endif %}
<tr>{% for c in t.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for r in t.cells() %}<tr>{% for c in r %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endfor %}
{% for f in s.figures %}<figure><img src="{{ f.uri }}" alt="{{ f.alt }}">{% if f.caption %}<figcaption>{{ f.caption }}</figcaption>{% endif %}</figure>{% endfor %}
</section>{% endfor %}
<p class="muted">{{ footer }}</p>
</main></body></html>
""",
    autoescape=True,
)


def render_page(title: str, sections: list[Section], *, subtitle: str = "", footer: str = "") -> str:
    """The HTML text of a report page."""
    for i, s in enumerate(sections):
        if not s.anchor:
            s.anchor = f"s{i}-" + "".join(ch if ch.isalnum() else "-" for ch in s.title.lower()).strip("-")
    return _TEMPLATE.render(title=title, subtitle=subtitle, sections=sections, footer=footer)


def write_page(path: str | Path, title: str, sections: list[Section], **kwargs) -> Path:
    """Render and write a report atomically; returns the path."""
    p = Path(path)
    atomic_write_text(p, render_page(title, sections, **kwargs))
    return p


def escape(text: str) -> str:
    return _html.escape(text)
