"""Tables and prose for `labspec report`, written once as Markdown and shown three ways: the
report.md file, the terminal (columns padded to line up) and report.html.

Why a table is split rather than cut: the report must fit a 120-column terminal, and a
column that does not fit moves to a continuation table that repeats the key columns (run,
grid point), so no figure is lost. Widths are measured on the padded (terminal) form, the
wider of the two, so both forms fit.
"""

from __future__ import annotations

import base64
import html
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

WIDTH = 120  # the terminal the report must fit
NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?( ± [-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?)?$|^nan$|^[-+]?inf$")
IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)$")


def escape_cell(text: str) -> str:
    """A cell's text with its pipes escaped, so a metric or label holding '|' stays one cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def split_cells(line: str) -> list[str]:
    """The cells of one Markdown table line (escaped pipes stay inside their cell)."""
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip() for c in re.split(r"(?<!\\)\|", inner)]


def padded_width(widths: Sequence[int]) -> int:
    """The length of a line of the padded table: '| ' + cells joined by ' | ' + ' |'."""
    return sum(widths) + 3 * len(widths) + 1


def column_parts(widths: Sequence[int], keep: int, width: int = WIDTH) -> list[list[int]]:
    """Which columns go into which part of a split table: every part repeats the first `keep`
    columns and takes as many of the others, in order, as fit in `width` (at least one, so a
    column wider than the screen still appears once, whole)."""
    keep = min(keep, len(widths))
    key = list(range(keep))
    parts: list[list[int]] = []
    current: list[int] = []
    for i in range(keep, len(widths)):
        if current and padded_width([widths[j] for j in key + current + [i]]) > width:
            parts.append(key + current)
            current = []
        current.append(i)
    if current or not parts:
        parts.append(key + current)
    return parts


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]], keep: int = 1, width: int = WIDTH) -> str:
    """A Markdown table, split into several that repeat the first `keep` columns when its
    padded form would be wider than `width`. Cells are written compactly ('| a | b |'); the
    terminal pads them (align_tables)."""
    header = [escape_cell(h) for h in header]
    body = [[escape_cell(c) for c in r] + [""] * (len(header) - len(r)) for r in rows]
    widths = [max([len(h), 3, *(len(r[i]) for r in body)]) for i, h in enumerate(header)]
    tables = []
    for part in column_parts(widths, keep, width):
        lines = ["| " + " | ".join(header[i] for i in part) + " |", "|" + "---|" * len(part)]
        lines += ["| " + " | ".join(r[i] for i in part) + " |" for r in body]
        tables.append("\n".join(lines))
    return "\n\n".join(tables) + "\n"


def is_table_line(line: str) -> bool:
    return line.lstrip().startswith("|")


def is_rule(cells: Sequence[str]) -> bool:
    return bool(cells) and all(re.fullmatch(r":?-+:?", c) for c in cells)


def align_tables(markdown: str) -> str:
    """Markdown with every table's columns padded to line up (numbers to the right), for the
    terminal; everything else unchanged."""
    out: list[str] = []
    block: list[str] = []
    for line in [*markdown.split("\n"), None]:
        if line is not None and is_table_line(line):
            block.append(line)
            continue
        if block:
            out += _aligned(block)
            block = []
        if line is not None:
            out.append(line)
    return "\n".join(out)


def _aligned(lines: list[str]) -> list[str]:
    rows = [split_cells(line) for line in lines]
    n = max(len(r) for r in rows)
    rows = [r + [""] * (n - len(r)) for r in rows]
    widths = [max(3, *(len(r[i]) for r in rows if not is_rule(r))) for i in range(n)]
    out = []
    for r in rows:
        if is_rule(r):
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        else:
            out.append("| " + " | ".join(c.rjust(w) if NUMBER.match(c) else c.ljust(w)
                                         for c, w in zip(r, widths, strict=True)) + " |")
    return out


def wrap_prose(markdown: str, width: int = WIDTH) -> str:
    """Long prose lines broken at spaces (Markdown reads a line break inside a paragraph as a
    space); headings, tables and image lines are left whole."""
    out: list[str] = []
    for line in markdown.split("\n"):
        if len(line) <= width or is_table_line(line) or line.startswith("#") or IMAGE.match(line):
            out.append(line)
            continue
        prefix = "> " if line.startswith("> ") else ""
        out += textwrap.wrap(line[len(prefix):], width - len(prefix), initial_indent=prefix,
                             subsequent_indent=prefix, break_long_words=False, break_on_hyphens=False) or [line]
    return "\n".join(out)


def without_images(markdown: str) -> str:
    """The Markdown without its image lines and without the headings left with nothing under
    them (the terminal shows tables and prose; the plots are in the files)."""
    kept = [line for line in markdown.split("\n") if not IMAGE.match(line)]
    out: list[str] = []
    for i, line in enumerate(kept):
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            rest = [x for x in kept[i + 1:] if x.strip()]
            following = rest[0] if rest else ""
            if not following or (following.startswith("#")
                                 and len(following) - len(following.lstrip("#")) <= level):
                continue
        out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #eee; padding-bottom: .15em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
blockquote { border-left: 4px solid #e0a800; background: #fff8e1; margin: 1em 0; padding: .5em 1em; }
img { max-width: 100%; border: 1px solid #eee; margin: .3em 0 1em; }
code { background: #f3f3f3; padding: 0 .2em; border-radius: 3px; }
"""


def inline(text: str) -> str:
    """Markdown's inline marks the report uses (`code`, **bold**) as HTML, the rest escaped."""
    out = html.escape(text.replace("\\|", "|"), quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def image_tag(alt: str, src: str, folder: Path) -> str:
    """An <img> with the PNG inline as a data URI: the page opens alone, from a cluster's file
    browser or a copy, with no folder of images beside it."""
    path = folder / src
    if not path.is_file():
        return f"<p>(missing plot: {html.escape(src)})</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def html_table(lines: list[str]) -> str:
    rows = [split_cells(line) for line in lines]
    header, body = rows[0], [r for r in rows[1:] if not is_rule(r)]
    out = ["<table>", "<tr>" + "".join(f"<th>{inline(c)}</th>" for c in header) + "</tr>"]
    for r in body:
        out.append("<tr>" + "".join(f'<td class="num">{inline(c)}</td>' if NUMBER.match(c) else f"<td>{inline(c)}</td>"
                                    for c in r) + "</tr>")
    return "\n".join([*out, "</table>"])


def to_html(markdown: str, title: str, folder: Path) -> str:
    """report.html from report.md's Markdown (the subset the report writes: headings, tables,
    images, block quotes, paragraphs), with its images from `folder` inline."""
    body: list[str] = []
    lines = markdown.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif is_table_line(line):
            j = i
            while j < len(lines) and is_table_line(lines[j]):
                j += 1
            body.append(html_table(lines[i:j]))
            i = j
        elif m := re.match(r"^(#{1,6}) (.*)$", line):
            level = len(m.group(1))
            body.append(f"<h{level}>{inline(m.group(2))}</h{level}>")
            i += 1
        elif m := IMAGE.match(line):
            body.append(image_tag(m.group("alt"), m.group("src"), folder))
            i += 1
        else:
            quote = line.startswith(">")
            j = i + 1  # the first line always belongs to this paragraph
            while j < len(lines) and lines[j].strip() and lines[j].startswith(">") == quote \
                    and not is_table_line(lines[j]) and not lines[j].startswith("#") and not IMAGE.match(lines[j]):
                j += 1
            text = " ".join(x.lstrip(">").strip() if quote else x.strip() for x in lines[i:j])
            body.append(f"<blockquote><p>{inline(text)}</p></blockquote>" if quote else f"<p>{inline(text)}</p>")
            i = j
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
