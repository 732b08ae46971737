"""Markdown for message bodies. eXpress clients render a body's markdown; text that comes from users
or other systems should be escaped first so that its ``*`` or ``_`` stay characters."""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_\[\]()~>#|])")


def escape(text: str) -> str:
    """``text`` shown as it is, not as markdown."""
    return _SPECIAL.sub(r"\\\1", text)


def bold(text: str) -> str:
    return f"**{escape(text)}**"


def italic(text: str) -> str:
    return f"_{escape(text)}_"


def code(text: str) -> str:
    # A backtick cannot be escaped inside inline code; a longer fence around it can hold it.
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}"


def code_block(text: str, language: str = "") -> str:
    return f"```{language}\n{text}\n```"


def link(label: str, url: str) -> str:
    return f"[{escape(label)}]({url.replace(')', '%29').replace(' ', '%20')})"
