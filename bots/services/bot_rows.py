"""The bots a batch of traffic needs, read afresh from the registry in a few prebuilt statements.

A drained batch and a delivered chunk read their bots once each (never from the web processes'
cache: a bot disabled or a rule changed a moment ago must count). With the ORM that is a join and two
prefetches compiled on every call, which costs a small batch more CPU than everything else it does;
here the same rows come from ``rows_select`` (statements built once) and are wired together as
``select_related("cts")`` and ``prefetch_related("chat_rules", "command_rules")`` would wire them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Model

from bots.models import Bot, ChatRule, CommandRule, CtsServer
from bots.services.rows import rows_select


def bots_read(bot_pks: Iterable[int], *, rules: bool = False) -> dict[int, Bot]:
    """The bots with these keys by key (a key with no bot is left out), each with its CTS and, with
    ``rules``, its chat and command rules loaded (``bot.chat_rules.all()`` reads no more rows)."""
    bots = {bot.pk: bot for bot in rows_select(Bot, where={"id": set(bot_pks)})}
    if not bots:
        return bots
    servers = {cts.pk: cts for cts in rows_select(CtsServer, where={"id": {bot.cts_id for bot in bots.values()}})}
    for pk, bot in list(bots.items()):
        if bot.cts_id in servers:
            bot.cts = servers[bot.cts_id]
        else:
            # Moved to another CTS and the old one deleted between the two reads: read it again, joined.
            fresh = Bot.objects.select_related("cts").filter(pk=pk).first()
            if fresh is None:
                del bots[pk]
            else:
                bots[pk] = fresh
    if rules:
        for model, name in ((ChatRule, "chat_rules"), (CommandRule, "command_rules")):
            found: dict[int, list[Model]] = {pk: [] for pk in bots}
            for rule in rows_select(model, where={"bot": list(bots)}, order_by="id"):
                found[rule.bot_id].append(rule)  # type: ignore[attr-defined]
            for pk, bot in bots.items():
                _prefetched(bot, name, found[pk])
    return bots


def _prefetched(bot: Bot, name: str, rows: list[Model]) -> None:
    """Store ``rows`` as the bot's prefetched ``name`` relation, as ``prefetch_related`` does."""
    queryset = getattr(bot, name).all()  # the relation's own queryset: a further filter() still queries
    queryset._result_cache = rows
    queryset._prefetch_done = True
    instance: Any = bot
    if not hasattr(instance, "_prefetched_objects_cache"):
        instance._prefetched_objects_cache = {}
    instance._prefetched_objects_cache[name] = queryset
