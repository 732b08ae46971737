"""How the simulator shows message text: a small Markdown subset over escaped text, mentions named."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

from bots.sandbox.templatetags.simulator import render_markdown, sim_json, sim_link, sim_message_text


def test_html_is_always_shown_as_text() -> None:
    html = render_markdown('<img src=x onerror="alert(1)"> & <b>bold</b>')

    assert "<img" not in html
    assert "<b>" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html


def test_the_markdown_subset() -> None:
    html = render_markdown("**bold**, *italic*, _also_, ~~gone~~ and `a <b> c`\n> quoted\n- one\n- two")

    assert "<strong>bold</strong>" in html
    assert "<em>italic</em>" in html
    assert "<em>also</em>" in html
    assert "<del>gone</del>" in html
    assert "<code>a &lt;b&gt; c</code>" in html
    assert "<blockquote>quoted</blockquote>" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html


def test_code_keeps_its_markup_characters_and_fences_keep_lines() -> None:
    html = render_markdown("`**not bold**`\n```\nline 1\n**line 2**\n```")

    assert "<code>**not bold**</code>" in html
    assert "<pre><code>line 1\n**line 2**</code></pre>" in html


def test_only_web_and_mail_links_become_links() -> None:
    html = render_markdown("[site](https://example.com/a?b=1&c=2) [bad](javascript:alert(1)) [mail](mailto:a@b.c)")

    assert '<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">site</a>' in html
    assert 'href="javascript' not in html
    assert "[bad](javascript:alert(1))" in html
    assert '<a href="mailto:a@b.c"' in html


def test_a_link_cannot_break_out_of_its_attribute() -> None:
    html = render_markdown('[x](https://example.com/"onmouseover="alert(1))')

    assert '"onmouseover' not in html
    assert "&quot;onmouseover=&quot;" in html


def test_snake_case_words_stay_as_they_are() -> None:
    assert "<em>" not in render_markdown("call some_function_name now")


def test_mentions_are_shown_by_name_and_unknown_ones_as_written() -> None:
    known, unknown = uuid.uuid4(), uuid.uuid4()
    huid = uuid.uuid4()
    message = SimpleNamespace(
        body=f"hi @{{mention:{known}}} and @{{mention:{unknown}}}",
        mentions=[
            {"mention_type": "user", "mention_id": str(known), "mention_data": {"user_huid": str(huid), "name": None}}
        ],
        entities=[],
    )

    html = sim_message_text(message, {str(huid): "Мария <Смирнова>"})

    assert f'<span class="sim-mention" title="{huid}">@Мария &lt;Смирнова&gt;</span>' in html
    assert f"@{{mention:{unknown}}}" in html


def test_user_mentions_come_from_the_entities() -> None:
    mention_id, chat_id = uuid.uuid4(), uuid.uuid4()
    message = SimpleNamespace(
        body=f"see ##{{mention:{mention_id}}}",
        mentions=[],
        entities=[
            {
                "type": "mention",
                "data": {
                    "mention_type": "chat",
                    "mention_id": str(mention_id),
                    "mention_data": {"group_chat_id": str(chat_id), "name": "General"},
                },
            }
        ],
    )

    assert "#General" in sim_message_text(message, {})


def test_raw_json_is_pretty_printed_and_cut() -> None:
    assert sim_json('{"b": [1, 2]}') == '{\n  "b": [\n    1,\n    2\n  ]\n}'
    assert sim_json("not json") == "not json"
    assert sim_json({"x": "я"}) == '{\n  "x": "я"\n}'
    assert sim_json("x" * 30_000).endswith("…")


def test_only_web_links_open_from_buttons() -> None:
    assert sim_link({"link": "https://example.com"}) == "https://example.com"
    assert sim_link({"link": "javascript:alert(1)"}) == ""
    assert sim_link(None) == ""
