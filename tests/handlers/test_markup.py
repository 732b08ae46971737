"""The bubble and keyboard builder: rows, widths, link buttons, alerts, silence and data, as BotX gets them."""

from __future__ import annotations

import pytest

from bots.botx.outgoing import build_request
from bots.handlers.api import Bubbles, Keyboard, Markup

CHAT = "dbc8934f-d0d7-4a9e-89df-d45c137a851c"


def wire(markup: Markup) -> list[list[dict[str, object]]]:
    """The bubble rows BotX receives for a notification carrying ``markup``."""
    request = build_request("notification", {"chat_id": CHAT, "body": "x", "bubbles": markup.build()})
    assert request.json is not None
    rows: list[list[dict[str, object]]] = request.json["notification"]["bubble"]
    return rows


def test_buttons_fill_a_row_until_a_new_one_is_started() -> None:
    markup = Markup().button("Yes", "/vote", data={"answer": "yes"}).button("No", "/vote", data={"answer": "no"})
    markup.row().button("Later", "/later")

    assert markup.build() == [
        [
            {"label": "Yes", "command": "/vote", "data": {"answer": "yes"}, "silent": True},
            {"label": "No", "command": "/vote", "data": {"answer": "no"}, "silent": True},
        ],
        [{"label": "Later", "command": "/later", "data": {}, "silent": True}],
    ]
    assert len(markup) == 3


def test_new_row_on_a_button_starts_a_row_and_empty_rows_are_left_out() -> None:
    markup = Markup().row().row().button("A", "/a").button("B", "/b", new_row=True).row()

    assert [[button["label"] for button in row] for row in markup.build()] == [["A"], ["B"]]


def test_width_alert_silence_and_colours_reach_botx_as_button_options() -> None:
    markup = Markup().button(
        "Delete",
        "/delete",
        data={"id": 7},
        silent=False,
        width=2,
        alert="Deleted",
        align="left",
        font_color="#ffffff",
        background_color="#ff0000",
    )

    (button,) = wire(markup)[0]
    assert button == {
        "command": "/delete",
        "label": "Delete",
        "data": {"id": 7},
        "opts": {
            "silent": False,
            "align": "left",
            "font_color": "#ffffff",
            "background_color": "#ff0000",
            "h_size": 2,
            "show_alert": True,
            "alert_text": "Deleted",
        },
    }


def test_a_link_button_is_handled_by_the_client() -> None:
    markup = Markup().link("Docs", "https://docs.example.com/", alert="Open the docs?")

    (button,) = wire(markup)[0]
    assert button["label"] == "Docs"
    assert "command" not in button
    assert button["opts"] == {
        "silent": True,
        "align": "center",
        "show_alert": True,
        "alert_text": "Open the docs?",
        "handler": "client",
        "link": "https://docs.example.com/",
    }


def test_bubbles_and_keyboard_are_the_same_builder() -> None:
    assert Bubbles is Markup
    assert Keyboard is Markup
    assert not Keyboard()
    assert Keyboard().button("/help", "/help")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Markup().button("No command", ""), "needs a command"),
        (lambda: Markup().link("No URL", ""), "needs a URL"),
        (lambda: Markup().button("Thin", "/x", width=0), "at least 1"),
    ],
    ids=["button without command", "link without url", "zero width"],
)
def test_a_button_that_cannot_work_is_refused_where_it_is_built(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]
