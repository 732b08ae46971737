"""Bubbles and keyboards: a small fluent builder of the button rows a message carries.

    bubbles = Markup().button(_("Yes"), "/vote", data={"answer": "yes"}).button(_("No"), "/vote", data=...)
    bubbles.row().link(_("Open the report"), "https://reports.example.com/42")
    ctx.reply(_("Agree?"), bubbles=bubbles)

``button`` adds to the current row, ``row`` starts a new one (``new_row=True`` on a button does the same).
The result is the list of rows of ``Button`` dicts of bots/botx/outgoing.py, which checks them again.
"""

from __future__ import annotations

from typing import Any

from bots.botx.outgoing import Button, ButtonAlign


class Markup:
    """Rows of buttons for ``bubbles=`` (under the message) or ``keyboard=`` (in place of the keyboard)."""

    def __init__(self) -> None:
        self._rows: list[list[Button]] = []

    def row(self) -> Markup:
        """Start a new row; the next button goes there."""
        if not self._rows or self._rows[-1]:
            self._rows.append([])
        return self

    def button(
        self,
        label: str,
        command: str,
        *,
        data: dict[str, Any] | None = None,
        silent: bool = True,
        width: int | None = None,
        alert: str | None = None,
        align: ButtonAlign | None = None,
        font_color: str | None = None,
        background_color: str | None = None,
        new_row: bool = False,
    ) -> Markup:
        """A button that sends ``command`` (with ``data``) back to the bot when pressed.

        ``silent``: the press does not show the command in the chat; ``width``: relative width in its
        row; ``alert``: a pop-up shown on press.
        """
        if not command:
            raise ValueError(f"The button {label!r} needs a command; use link() for a link button.")
        button: Button = {"label": str(label), "command": command, "data": dict(data or {}), "silent": silent}
        self._add(button, width, alert, align, font_color, background_color, new_row)
        return self

    def link(
        self,
        label: str,
        url: str,
        *,
        alert: str | None = None,
        width: int | None = None,
        align: ButtonAlign | None = None,
        new_row: bool = False,
    ) -> Markup:
        """A button the client handles itself by opening ``url`` (``alert``: a confirmation first)."""
        if not url:
            raise ValueError(f"The link button {label!r} needs a URL.")
        button: Button = {"label": str(label), "link": url}
        self._add(button, width, alert, align, None, None, new_row)
        return self

    def build(self) -> list[list[Button]]:
        """The rows as plain dicts, empty rows left out."""
        return [[dict(button) for button in row] for row in self._rows if row]  # type: ignore[misc]

    def __bool__(self) -> bool:
        return any(self._rows)

    def __len__(self) -> int:
        return sum(len(row) for row in self._rows)

    def _add(
        self,
        button: Button,
        width: int | None,
        alert: str | None,
        align: ButtonAlign | None,
        font_color: str | None,
        background_color: str | None,
        new_row: bool,
    ) -> None:
        if width is not None:
            if width < 1:
                raise ValueError(f"A button's width is at least 1, not {width}.")
            button["width"] = width
        if alert is not None:
            button["alert"] = str(alert)
        if align is not None:
            button["align"] = align
        if font_color is not None:
            button["font_color"] = font_color
        if background_color is not None:
            button["background_color"] = background_color
        if new_row or not self._rows:
            self._rows.append([])
        self._rows[-1].append(button)


# The same builder under the names of the two places a message shows buttons.
Bubbles = Markup
Keyboard = Markup


def markup_rows(value: Any) -> Any:
    """A builder turned into its rows; anything else (already rows, or wrong) is left for the checks."""
    return value.build() if isinstance(value, Markup) else value
