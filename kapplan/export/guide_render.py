"""The client's guide as HTML or Markdown, from templates shipped with the package.

Jinja2 renders both, so no text is ever pasted into markup by hand: the HTML
environment escapes every value (autoescape), and the Markdown environment
passes every value through :func:`markdown_text`, which escapes what Markdown
(and the HTML that Markdown renderers let through) would read as markup.
The HTML is one self-contained file: inline CSS, no scripts, no images, no
fonts or styles fetched from anywhere, and a Content-Security-Policy that
forbids loading anything should a browser ever be asked to.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

from kapplan.export.guide import NO_CONTACT, TENTATIVE_NOTE, Guide

FORMATS = ("html", "md")
_MD_INLINE = re.compile(r"([\\`*_\[\]|~])")


class _Raw(str):
    """A value already in its final Markdown form (a link inside ``<...>``)."""


def render_guide(guide: Guide, fmt: str) -> str:
    """The guide in ``fmt`` (``html`` or ``md``)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    template = _environment(fmt).get_template(f"guide.{fmt}.j2")
    text: str = template.render(guide=guide, no_contact=NO_CONTACT, tentative_note=TENTATIVE_NOTE)
    return _tidy(text)


def markdown_text(value: Any) -> str:
    """One value as literal Markdown text: ``<script>`` stays text, ``*`` stays a star."""
    if isinstance(value, _Raw):
        return str(value)
    text = html.escape(str(value), quote=False)
    return _MD_INLINE.sub(r"\\\1", text)


def markdown_url(value: str) -> _Raw:
    """A web address for a Markdown autolink: nothing in it can end the link."""
    return _Raw(re.sub(r"[\s<>\"'`\\]", "", value))


def tel_target(value: str) -> str:
    """``tel:`` digits for a phone number written any way (``+1 (212) 555-0100``)."""
    return re.sub(r"[^\d+]", "", value)


@lru_cache(maxsize=2)
def _environment(fmt: str) -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    if fmt == "html":
        env = Environment(loader=PackageLoader("kapplan.export", "templates"), autoescape=True,
                          undefined=StrictUndefined, trim_blocks=False)
    else:
        env = Environment(loader=PackageLoader("kapplan.export", "templates"), autoescape=False,
                          undefined=StrictUndefined, finalize=markdown_text, keep_trailing_newline=True)
    env.filters["tel"] = tel_target
    env.filters["md_url"] = markdown_url
    return env


def _tidy(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n") + "\n"


__all__ = ["FORMATS", "markdown_text", "render_guide"]
