"""Template helpers of the chat simulator: message text as the eXpress client shows it, raw JSON.

Message text is rendered from a small Markdown subset (bold, italic, strike-through, inline and fenced
code, links, quotes, bullet lists) after every character of it has been HTML-escaped, so nothing a
bot or a user writes can become markup; mention placeholders become the mentioned names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

JSON_LIMIT = 20_000
_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters marking pieces set aside
_PLACEHOLDER = re.compile(r"(?:@@|##|@)\{mention:(?P<id>[0-9a-fA-F-]{36})\}")
_FENCE = re.compile(r"```[^\n]*\n?(?P<code>.*?)```", re.DOTALL)
_CODE = re.compile(r"`(?P<code>[^`\n]+)`")
_LINK = re.compile(r"\[(?P<text>[^\]\n]+)\]\((?P<url>(?:https?://|mailto:)[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(?P<text>.+?)(?<=\S)\*\*")
_STRIKE = re.compile(r"~~(?=\S)(?P<text>.+?)(?<=\S)~~")
_ITALIC = re.compile(
    r"(?<![\w*])\*(?=\S)(?P<text>[^*\n]+?)(?<=\S)\*(?![\w*])|(?<!\w)_(?=\S)(?P<u>[^_\n]+?)(?<=\S)_(?!\w)"
)
_STASHED = re.compile(_OPEN + r"(\d+)" + _CLOSE)


class _Stash:
    """HTML pieces kept out of the way of the later rules, put back at the end."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def put(self, html: str) -> str:
        self.pieces.append(html)
        return f"{_OPEN}{len(self.pieces) - 1}{_CLOSE}"

    def restore(self, text: str) -> str:
        while _STASHED.search(text):
            text = _STASHED.sub(lambda match: self.pieces[int(match.group(1))], text)
        return text


def _inline(text: str, stash: _Stash) -> str:
    """Inline rules over already escaped text."""
    text = _CODE.sub(lambda m: stash.put(f"<code>{m.group('code')}</code>"), text)
    text = _LINK.sub(
        lambda m: stash.put(
            f'<a href="{m.group("url")}" target="_blank" rel="noopener noreferrer">{m.group("text")}</a>'
        ),
        text,
    )
    text = _BOLD.sub(lambda m: f"<strong>{m.group('text')}</strong>", text)
    text = _STRIKE.sub(lambda m: f"<del>{m.group('text')}</del>", text)
    return _ITALIC.sub(lambda m: f"<em>{m.group('text') or m.group('u')}</em>", text)


def _blocks(text: str, stash: _Stash) -> str:
    out: list[str] = []
    items: list[str] = []
    quote: list[str] = []
    lines: list[str] = []

    def flush() -> None:
        if items:
            out.append("<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>")
            items.clear()
        if quote:
            out.append("<blockquote>" + "<br>".join(quote) + "</blockquote>")
            quote.clear()
        if lines:
            out.append("<p>" + "<br>".join(lines) + "</p>")
            lines.clear()

    for raw in text.split("\n"):
        line = raw.rstrip()
        bullet = re.match(r"^\s*[-*+]\s+(.*)$", line)
        quoted = re.match(r"^&gt;\s?(.*)$", line)
        if bullet:
            if quote or lines:
                flush()
            items.append(_inline(bullet.group(1), stash))
        elif quoted:
            if items or lines:
                flush()
            quote.append(_inline(quoted.group(1), stash))
        elif not line.strip():
            flush()
        else:
            if items or quote:
                flush()
            lines.append(_inline(line, stash))
    flush()
    return "".join(out)


def render_markdown(text: str, mention: Callable[[str], str | None] | None = None) -> SafeString:
    """``text`` as safe HTML; ``mention(id)`` names a mention placeholder (as escaped HTML), or
    returns None for one the message does not describe, which then stays as it was written."""
    stash = _Stash()
    text = (text or "").replace(_OPEN, "").replace(_CLOSE, "").replace("\r\n", "\n")
    text = escape(text)
    text = _FENCE.sub(lambda m: stash.put(f"<pre><code>{m.group('code').rstrip()}</code></pre>"), text)
    if mention is not None:
        text = _PLACEHOLDER.sub(lambda m: stash.put(mention(m.group("id")) or m.group(0)), text)
    return mark_safe(stash.restore(_blocks(text, stash)))


def _mention_index(message: Any) -> dict[str, dict[str, Any]]:
    """Mentions of a bot's message (``mentions``) or of a user's (mention entities), by mention id."""
    found: dict[str, dict[str, Any]] = {}
    for item in getattr(message, "mentions", None) or []:
        if isinstance(item, dict):
            found[str(item.get("mention_id"))] = item
    for entity in getattr(message, "entities", None) or []:
        if isinstance(entity, dict) and entity.get("type") == "mention" and isinstance(entity.get("data"), dict):
            found[str(entity["data"].get("mention_id"))] = entity["data"]
    return found


def _mention_html(item: dict[str, Any] | None, names: Mapping[str, str]) -> str | None:
    if item is None:
        return None
    kind = item.get("mention_type") or "user"
    raw = item.get("mention_data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if kind == "all":
        return '<span class="sim-mention">@all</span>'
    target = str(data.get("user_huid") or data.get("group_chat_id") or "")
    name = data.get("name") or names.get(target) or target[:8]
    prefix = "#" if kind in {"chat", "channel"} else "@"
    return f'<span class="sim-mention" title="{escape(target)}">{prefix}{escape(name)}</span>'


@register.simple_tag
def sim_message_text(message: Any, names: Mapping[str, str] | None = None) -> SafeString:
    """A sandbox message's text, Markdown rendered, mentions named."""
    index = _mention_index(message)
    known = names or {}
    return render_markdown(message.body, lambda mention_id: _mention_html(index.get(mention_id), known))


@register.filter
def sim_json(value: Any) -> str:
    """Pretty JSON of a value, or of a JSON text; other text as it is. Long ones are cut."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value[:JSON_LIMIT] + ("…" if len(value) > JSON_LIMIT else "")
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False, default=str)
    return text[:JSON_LIMIT] + ("…" if len(text) > JSON_LIMIT else "")


@register.filter
def sim_button_color(opts: Any) -> str:
    """Inline style of a button's colours, only when they are plain hex colours."""
    if not isinstance(opts, dict):
        return ""
    style = []
    for key, css in (("font_color", "color"), ("background_color", "border-color")):
        value = opts.get(key)
        if isinstance(value, str) and re.fullmatch(r"#[0-9a-fA-F]{3,8}", value):
            style.append(f"{css}: {value}")
    return "; ".join(style)


@register.filter
def sim_link(opts: Any) -> str:
    """The URL a client-side link button opens, when it is a web link."""
    if isinstance(opts, dict):
        link = opts.get("link")
        if isinstance(link, str) and re.match(r"^https?://", link):
            return link
    return ""
