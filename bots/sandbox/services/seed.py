"""Demo data for the sandbox: a few users, a group chat, a channel and a personal chat per bot and user,
with every bot of the sandbox CTS servers in them. Ids are derived from names, so seeding again
finds the same rows and changes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import transaction

from bots.sandbox.models import SandboxChat, SandboxFaults, SandboxMember, SandboxUser
from bots.sandbox.selectors import sandbox_bot_list, sandbox_cts_list

_NAMESPACE = uuid.UUID("9a4d1f1e-8c1b-4c55-9a63-2f8f6f0d5b7e")


def seed_id(kind: str, key: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{kind}:{key}")


@dataclass(frozen=True)
class DemoUser:
    login: str
    name: str
    company_position: str
    department: str


DEMO_USERS = (
    DemoUser("ipetrov", "Иван Петров", "Руководитель отдела", "Поддержка"),
    DemoUser("msmirnova", "Мария Смирнова", "Аналитик", "Финансы"),
    DemoUser("akuznetsov", "Алексей Кузнецов", "Инженер", "Эксплуатация"),
    DemoUser("oivanova", "Ольга Иванова", "Менеджер", "Продажи"),
)
DEMO_DOMAIN = "corp"
GROUP_CHAT = ("general", "Общий чат", SandboxChat.Type.GROUP_CHAT, "Демонстрационный чат песочницы")
CHANNEL = ("news", "Новости", SandboxChat.Type.CHANNEL, "Демонстрационный канал песочницы")


@dataclass(frozen=True)
class SeedResult:
    users_created: int
    chats_created: int
    members_added: int
    bots: int


def sandbox_seed() -> SeedResult:
    users_created = chats_created = members_added = 0
    with transaction.atomic():
        for cts in sandbox_cts_list():
            SandboxFaults.objects.get_or_create(cts=cts)

        people: list[SandboxUser] = []
        for demo in DEMO_USERS:
            person, created = SandboxUser.objects.get_or_create(
                huid=seed_id("user", demo.login),
                defaults={
                    "name": demo.name,
                    "ad_login": demo.login,
                    "ad_domain": DEMO_DOMAIN,
                    "emails": [f"{demo.login}@{DEMO_DOMAIN}.example.com"],
                    "other_id": demo.login,
                    "company": "ООО «Песочница»",  # noqa: RUF001 (Russian text)
                    "company_position": demo.company_position,
                    "department": demo.department,
                },
            )
            people.append(person)
            users_created += created

        bot_ids = list(dict.fromkeys(sandbox_bot_list().order_by("name").values_list("bot_id", flat=True)))
        creator = people[0].huid

        for key, name, chat_type, description in (GROUP_CHAT, CHANNEL):
            chat, created = SandboxChat.objects.get_or_create(
                group_chat_id=seed_id("chat", key),
                defaults={"name": name, "chat_type": chat_type, "description": description, "creator_huid": creator},
            )
            chats_created += created
            for person in people:
                members_added += _member(chat, person.huid, SandboxMember.Kind.USER, admin=person.huid == creator)
            for bot_id in bot_ids:
                # Bots are admins so that pins, stealth and member changes work in the demo.
                members_added += _member(chat, bot_id, SandboxMember.Kind.BOT, admin=True)

        for bot_id in bot_ids:
            for person in people:
                chat, created = SandboxChat.objects.get_or_create(
                    group_chat_id=seed_id("personal", f"{bot_id}:{person.huid}"),
                    defaults={"name": person.name, "chat_type": SandboxChat.Type.CHAT, "creator_huid": person.huid},
                )
                chats_created += created
                members_added += _member(chat, person.huid, SandboxMember.Kind.USER, admin=True)
                members_added += _member(chat, bot_id, SandboxMember.Kind.BOT, admin=True)
    return SeedResult(users_created, chats_created, members_added, len(bot_ids))


def _member(chat: SandboxChat, huid: uuid.UUID, kind: str, *, admin: bool) -> int:
    _member_row, created = SandboxMember.objects.get_or_create(
        chat=chat, huid=huid, defaults={"kind": kind, "admin": admin}
    )
    return int(created)
