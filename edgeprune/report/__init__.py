"""Rendering report.json into report.md / report.html, and the build headline."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..fileio import write_text_atomic
from .compare import comparison_table, render_comparison_html, render_comparison_markdown, rerender
from .html import render_html
from .markdown import render_markdown
from .summary import build_summary, comparison_rows


def write_reports(build_dir: Path, report: dict[str, Any]) -> None:
    """report.md and report.html next to report.json (atomic); the HTML reads bench.json's raw samples."""
    write_text_atomic(build_dir / "report.md", render_markdown(report))
    write_text_atomic(build_dir / "report.html", render_html(report, build_dir))


__all__ = ["build_summary", "comparison_rows", "comparison_table", "render_comparison_html",
           "render_comparison_markdown", "render_html", "render_markdown", "rerender", "write_reports"]
