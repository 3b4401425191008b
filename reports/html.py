"""HTML primitives: escaping, tables, sections and the page shell (inline CSS, no scripts, no external resources)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def anchor(text: str) -> str:
    """A stable id from free text (letters, digits and dashes)."""
    out = "".join(ch.lower() if ch.isalnum() else "-" for ch in text)
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-") or "x"


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    format: Callable[[object], str] = str
    numeric: bool = False
    raw_html: bool = False  # the formatter returns HTML (already escaped)


def table(rows: Iterable[dict], columns: list[Column], caption: str = "", css_class: str = "") -> str:
    head = "".join(f'<th class="{"num" if c.numeric else ""}">{esc(c.header)}</th>' for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c.key)
            text = "—" if is_missing(value) else c.format(value)
            cells.append(f'<td class="{"num" if c.numeric else ""}">{text if c.raw_html else esc(text)}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<div class="scroll"><table class="{css_class}">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    body: str


def figure(svg: str, caption: str) -> str:
    return f'<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>'


CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1d1d1f;
       margin: 0; background: #fafafa; }
main { max-width: 1320px; margin: 0 auto; padding: 20px 28px 60px; background: #fff; }
h1 { font-size: 24px; margin: 4px 0 6px; }
h2 { font-size: 19px; margin: 34px 0 8px; padding-top: 8px; border-top: 2px solid #e4e4e4; }
h3 { font-size: 15px; margin: 22px 0 6px; }
h4 { font-size: 13.5px; margin: 14px 0 4px; color: #333; }
p.lead { color: #444; margin: 2px 0 12px; max-width: 980px; }
p.note { color: #555; font-size: 13px; max-width: 980px; }
nav.toc { columns: 3; font-size: 13px; margin: 8px 0 12px; }
nav.toc a { display: block; color: #0b57d0; text-decoration: none; }
.scroll { overflow-x: auto; margin: 6px 0 10px; }
table { border-collapse: collapse; font-size: 12.5px; }
caption { text-align: left; font-weight: 600; padding: 2px 0 4px; }
th, td { padding: 3px 9px; border-bottom: 1px solid #e6e6e6; text-align: left; vertical-align: top; }
th { background: #f2f4f7; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fbfbfc; }
figure { margin: 8px 0 18px; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 12.5px; color: #555; max-width: 1100px; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 11.5px; margin: 1px 2px 1px 0; }
.ok { background: #d9f2dd; color: #14532d; } .skipped { background: #eceff3; color: #3b4452; }
.failed { background: #fde0dd; color: #8a1c12; } .oom { background: #fde9c8; color: #7a4a00; }
.front { font-weight: 600; }
.warn { color: #8a1c12; font-weight: 600; }
.tie { color: #8a5a00; }
.same { color: #666; font-style: italic; }
p.verdict { max-width: 1100px; background: #f2f7ff; border-left: 4px solid #0b57d0; padding: 6px 10px; margin: 8px 0; }
table.answer td { min-width: 90px; }
.nowrap { white-space: nowrap; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0; }
.card { border: 1px solid #e2e2e2; border-radius: 6px; padding: 6px 12px; min-width: 120px; }
.card b { display: block; font-size: 20px; }
.matrix td { font-size: 12px; max-width: 260px; }
code { font-size: 12px; background: #f3f3f3; padding: 0 3px; border-radius: 3px; }
details > summary { cursor: pointer; color: #0b57d0; }
@media print { body { background: #fff; } main { padding: 0; max-width: none; } h2 { break-before: auto; }
               figure { break-inside: avoid; } nav.toc { display: none; } }
"""


def page(title: str, subtitle: str, sections: list[Section]) -> str:
    toc = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    parts = "".join(f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections)
    return ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            # No network: forbid every external fetch (and scripts) even if some text slipped through.
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:; font-src data:\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f'<body><main><h1>{esc(title)}</h1><p class="lead">{esc(subtitle)}</p>'
            f'<nav class="toc">{toc}</nav>{parts}</main></body></html>\n')
