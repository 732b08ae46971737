"""Mention helpers: a marker in the body and an entry in ``mentions``, as BotX expects both."""

from __future__ import annotations

import uuid

import pytest

from bots.botx.outgoing import build_request
from bots.handlers.api import mention_all, mention_channel, mention_chat, mention_contact, mention_user
from bots.handlers.api.mentions import mention_payloads

CHAT = uuid.UUID("dbc8934f-d0d7-4a9e-89df-d45c137a851c")
ANN = uuid.UUID("b9197d3a-d855-5d34-ba8a-eff3a975ab20")


def test_each_kind_of_mention_names_its_target() -> None:
    user = mention_user(ANN, "Ann")
    contact = mention_contact(str(ANN))
    chat = mention_chat(CHAT, "Release team")
    channel = mention_channel(CHAT)
    everyone = mention_all()

    assert user.payload() == {"type": "user", "id": str(user.id), "user_huid": str(ANN), "name": "Ann"}
    assert contact.payload() == {"type": "contact", "id": str(contact.id), "user_huid": str(ANN)}
    assert chat.payload() == {"type": "chat", "id": str(chat.id), "chat_id": str(CHAT), "name": "Release team"}
    assert channel.payload() == {"type": "channel", "id": str(channel.id), "chat_id": str(CHAT)}
    assert everyone.payload() == {"type": "all", "id": str(everyone.id)}
    assert len({user.id, contact.id, chat.id, channel.id, everyone.id}) == 5


def test_a_mention_in_the_text_becomes_botx_placeholders_with_the_mentions_beside_them() -> None:
    ann, team, everyone = mention_user(ANN), mention_chat(CHAT), mention_all()
    payload = {
        "chat_id": str(CHAT),
        "body": f"{everyone}: {ann} moved the release to {team}",
        "mentions": mention_payloads([ann, team, everyone]),
    }

    body = build_request("notification", payload).json
    assert body is not None
    message = body["notification"]
    assert message["body"] == (
        f"@{{mention:{everyone.id}}}: @{{mention:{ann.id}}} moved the release to ##{{mention:{team.id}}}"
    )
    assert message["mentions"] == [
        {"mention_type": "user", "mention_id": str(ann.id), "mention_data": {"user_huid": str(ANN)}},
        {"mention_type": "chat", "mention_id": str(team.id), "mention_data": {"group_chat_id": str(CHAT)}},
        {"mention_type": "all", "mention_id": str(everyone.id), "mention_data": None},
    ]


def test_a_mention_formats_into_a_translated_text_by_its_marker() -> None:
    ann = mention_user(ANN)

    template = "Hello, %(you)s!"  # as gettext returns it

    assert template % {"you": ann} == f"Hello, {{mention:{ann.id}}}!"


def test_a_mention_of_nobody_is_refused() -> None:
    with pytest.raises(ValueError, match="needs its id"):
        mention_user(None)


def test_dicts_in_mentions_are_left_as_they_are() -> None:
    given = {"type": "all", "id": str(uuid.uuid4())}

    assert mention_payloads([given]) == [given]
