"""HTML -> Markdown for scraped chat logs (raw ShareGPT pages keep ChatGPT's rendered HTML).

Rules: ``<pre>`` blocks become fenced code with the language of their ``<code class=
"language-x">`` (the "python / Copy code" header ChatGPT draws above a block is dropped);
``<code>`` inline becomes backticks; ``<p>``, ``<div>``, ``<br>`` and headings end lines;
list items start with ``- `` or ``1. ``; ``<script>``/``<style>`` vanish; entities are
unescaped; other tags are removed keeping their text. Text without tags is returned unchanged
except for entity unescaping and whitespace trimming.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_TAG = re.compile(
    r"</?(?:div|p|pre|code|span|br|ol|ul|li|h[1-6]|table|tr|td|th|a|b|i|em|strong|button|svg|path)\b[^>]*>",
    re.I,
)
_BLANK_RUNS = re.compile(r"\n{3,}")
_BLOCK = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "ol", "ul"}


class _ToMarkdown(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0
        self._pre = 0
        self._pre_code = False
        self._inline_code = 0
        self._lists: list[list[int]] = []  # per open list: [is_ordered, counter]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "button", "svg"):
            self._skip += 1
        elif tag == "pre":
            self._pre += 1
            self._pre_code = False
        elif tag == "code" and self._pre:
            classes = dict(attrs).get("class") or ""
            lang = next((c[9:] for c in classes.split() if c.startswith("language-")), "")
            self.out.append(f"\n```{lang}\n")
            self._pre_code = True
        elif tag == "code":
            self._inline_code += 1
            self.out.append("`")
        elif tag == "br":
            self.out.append("\n")
        elif tag in ("ol", "ul"):
            self._lists.append([int(tag == "ol"), 0])
            self.out.append("\n")
        elif tag == "li":
            if self._lists and self._lists[-1][0]:
                self._lists[-1][1] += 1
                self.out.append(f"\n{self._lists[-1][1]}. ")
            else:
                self.out.append("\n- ")
        elif tag in _BLOCK:
            self.out.append("\n\n" + ("#" * int(tag[1]) + " " if tag[0] == "h" else ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "button", "svg"):
            self._skip = max(0, self._skip - 1)
        elif tag == "code" and self._pre and self._pre_code:
            ends_line = bool(self.out) and self.out[-1].endswith("\n")
            self.out.append("```\n" if ends_line else "\n```\n")
            self._pre_code = False
        elif tag == "code" and self._inline_code:
            self._inline_code -= 1
            self.out.append("`")
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        elif tag in ("ol", "ul") and self._lists:
            self._lists.pop()
            self.out.append("\n")
        elif tag in _BLOCK:
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._pre and not self._pre_code:
            return  # ChatGPT's code-block header ("python", "Copy code")
        self.out.append(data)


def looks_like_html(text: str) -> bool:
    """True when ``text`` holds markup tags of rendered chat pages."""
    return _TAG.search(text) is not None


def html_to_markdown(text: str) -> str:
    """Convert rendered chat HTML to Markdown (see module docstring); plain text passes through."""
    if not looks_like_html(text):
        return html.unescape(text).strip()
    parser = _ToMarkdown()
    parser.feed(text)
    parser.close()
    out = "".join(parser.out)
    out = "\n".join(line.rstrip() for line in out.split("\n"))
    return _BLANK_RUNS.sub("\n\n", out).strip()
