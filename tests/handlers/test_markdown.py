"""Markdown helpers for bodies: what users wrote stays text."""

from __future__ import annotations

from bots.handlers.api import markdown


def test_escaping_keeps_markdown_characters_as_text() -> None:
    assert markdown.escape("2*3 = 6_ [x](y) `z`") == r"2\*3 = 6\_ \[x\]\(y\) \`z\`"


def test_bold_italic_and_links_escape_their_text() -> None:
    assert markdown.bold("a*b") == r"**a\*b**"
    assert markdown.italic("snake_case") == r"_snake\_case_"
    assert markdown.link("the [report]", "https://x.example/a b)") == r"[the \[report\]](https://x.example/a%20b%29)"


def test_code_keeps_its_text_and_fences_a_backtick() -> None:
    assert markdown.code("a*b") == "`a*b`"
    assert markdown.code("a`b") == "``a`b``"
    assert markdown.code_block("print(1)", "python") == "```python\nprint(1)\n```"
