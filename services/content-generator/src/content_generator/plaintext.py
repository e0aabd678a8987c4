"""Plain text from sanitised email HTML, and simple HTML from plain text (stdlib only)."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_BLOCKS = frozenset({
    "p", "div", "h1", "h2", "h3", "blockquote", "table", "tr", "ul", "ol", "hr",
})
_SPACE = re.compile(r"[ \t\r\n\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextWriter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._link: tuple[str, int] | None = None  # href, index of the link's first chunk

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.chunks.append("\n\n")
        if tag == "br":
            self.chunks.append("\n")
        elif tag == "li":
            self.chunks.append("\n- ")
        elif tag in ("td", "th"):
            self.chunks.append(" ")
        elif tag == "hr":
            self.chunks.append("----------\n\n")
        elif tag == "a":
            self._link = (dict(attrs).get("href") or "", len(self.chunks))

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.chunks.append("\n\n")
        elif tag == "a" and self._link is not None:
            href, start = self._link
            self._link = None
            label = "".join(self.chunks[start:]).strip()
            # A reader of the text part needs the address; a mailto: reads fine as its label.
            if href and href != label and not href.startswith("mailto:"):
                self.chunks.append(f" ({href})" if label else href)

    def handle_data(self, data: str) -> None:
        self.chunks.append(_SPACE.sub(" ", data))


def html_to_text(markup: str) -> str:
    writer = _TextWriter()
    writer.feed(markup)
    writer.close()
    lines = (line.strip() for line in "".join(writer.chunks).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def text_to_html(text: str) -> str:
    """Paragraphs at blank lines, line breaks within them; everything escaped."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if p.strip()]
    return "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )
