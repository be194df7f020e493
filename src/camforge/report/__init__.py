"""Reports: self-contained HTML pages with embedded plots (and JSON twins)."""

from camforge.report.html import Figure, Section, Table, figure_to_data_uri, image_to_data_uri, render_page, write_page

__all__ = ["Figure", "Section", "Table", "figure_to_data_uri", "image_to_data_uri", "render_page", "write_page"]
