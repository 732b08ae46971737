"""Bots as code: make the registry match a YAML or JSON file (``manage.py bots apply``).

The file lists CTS servers and bots; a bot may carry its chat lists, command rules, roles and Smart
App settings. Bots are matched by (CTS, bot_id), CTS servers by name. A key left out of the file
leaves that part of the registry as it is; a list given replaces what is there. Any string may refer
to environment variables as ``${NAME}``: that is how secrets stay out of the file. Everything is
applied in one transaction: on any error, nothing changes. A dry run applies the file, reports the
changes and rolls back, so what it shows is exactly what a real run would do.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from bots import audit
from bots.models import Bot, BotRole, ChangeRecord, ChatRule, CommandRule, CtsServer, Role, SmartApp
from bots.services.registry import bot_secret_rotate

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

CTS_KEYS = {"name", "url", "auth", "verify_tls", "trusted_issuers"}
BOT_KEYS = {"bot_id", "cts", "secret_key", "chats", "commands", "roles", "smartapp", *Bot.DECLARED_FIELDS}
COMMAND_KEYS = {"user_huids", "ad_logins", "ad_domains", "chat_admins_only"}
SMARTAPP_KEYS = set(SmartApp.DECLARED_FIELDS)


class SpecError(Exception):
    """The file is wrong; ``problems`` lists every mistake found, each with where it is."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class ApplyResult:
    changes: list[ChangeRecord] = field(default_factory=list)
    dry_run: bool = False


def spec_load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(
            [_("%(where)s: cannot read the file (%(error)s).") % {"where": path, "error": exc.strerror}]
        ) from None
    except UnicodeDecodeError:
        raise SpecError([_("%(where)s: the file is not UTF-8 text; save it as UTF-8.") % {"where": path}]) from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise SpecError(
            [_("%(where)s: not valid %(kind)s: %(error)s") % {"where": path, "kind": kind, "error": exc}]
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError([_("%(where)s: the top level must be a mapping with the keys cts and bots.") % {"where": path}])
    return data


class _Applier:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    # --- small checks, each noting a problem and returning a usable value ------------------------------

    def problem(self, where: str, message: str, **params: Any) -> None:
        self.problems.append(f"{where}: {message % params if params else message}")

    def _mapping(self, value: Any, where: str, allowed: set[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(where, _("expected a mapping."))
            return None
        unknown = sorted(set(map(str, value)) - allowed)
        if unknown:
            self.problem(
                where,
                _("unknown key(s) %(keys)s; allowed: %(allowed)s."),
                keys=", ".join(unknown),
                allowed=", ".join(sorted(allowed)),
            )
            return None
        return value

    def _list(self, value: Any, where: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(where, _("expected a list."))
            return []
        return value

    def _uuid(self, value: Any, where: str) -> uuid.UUID | None:
        try:
            return uuid.UUID(str(value))
        except ValueError:
            self.problem(where, _("%(value)r is not a UUID."), value=value)
            return None

    def interpolate(self, value: Any, where: str) -> Any:
        """Replace ``${NAME}`` in every string with the environment variable NAME."""
        if isinstance(value, dict):
            return {key: self.interpolate(item, f"{where}.{key}" if where else str(key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.interpolate(item, f"{where}[{index}]") for index, item in enumerate(value)]
        if not isinstance(value, str):
            return value

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.environ:
                self.problem(where, _("the environment variable %(name)s is not set."), name=name)
                return ""
            return self.environ[name]

        return _ENV_REF.sub(substitute, value)

    def _secret(self, value: Any, where: str) -> str | None:
        if not isinstance(value, str) or not value:
            self.problem(where, _("expected a string or ${ENV_VAR}."))
            return None
        return value

    def _validation(self, exc: ValidationError, where: str) -> None:
        if hasattr(exc, "error_dict"):
            for name, errors in exc.message_dict.items():
                label = where if name == "__all__" else f"{where}.{name}"
                for message in errors:
                    self.problem(label, message)
        else:
            for message in exc.messages:
                self.problem(where, message)

    def _save(self, instance: Any, where: str, exclude: list[str] | None = None) -> bool:
        try:
            instance.full_clean(exclude=exclude)
        except ValidationError as exc:
            self._validation(exc, where)
            return False
        instance.save()
        return True

    # --- CTS servers ---------------------------------------------------------------------------------

    def cts(self, entries: list[Any]) -> dict[str, CtsServer]:
        by_name: dict[str, CtsServer] = {}
        for index, raw in enumerate(entries):
            where = f"cts[{index}]"
            spec = self._mapping(raw, where, CTS_KEYS)
            if spec is None:
                continue
            name = str(spec.get("name", "")).strip()
            if not name:
                self.problem(f"{where}.name", _("required."))
                continue
            if name in by_name:
                self.problem(f"{where}.name", _("%(name)s is listed twice."), name=name)
                continue
            server = CtsServer.objects.filter(name=name).first() or CtsServer(name=name)
            if "url" in spec:
                server.base_url = str(spec["url"]).rstrip("/")
            elif server.pk is None:
                self.problem(f"{where}.url", _("required for a new CTS server."))
                continue
            if "auth" in spec:
                server.auth_mode = str(spec["auth"])
            if "verify_tls" in spec:
                server.verify_tls = spec["verify_tls"]
            if "trusted_issuers" in spec:
                issuers = self._list(spec["trusted_issuers"], f"{where}.trusted_issuers")
                server.trusted_issuers = sorted({str(i).strip().lower() for i in issuers})
            if self._save(server, where):
                by_name[name] = server
        return by_name

    # --- bots ----------------------------------------------------------------------------------------

    def bots(self, entries: list[Any], servers: dict[str, CtsServer]) -> None:
        seen: set[tuple[str, uuid.UUID]] = set()
        for index, raw in enumerate(entries):
            where = f"bots[{index}]"
            spec = self._mapping(raw, where, BOT_KEYS)
            if spec is None:
                continue
            bot_id = self._uuid(spec.get("bot_id"), f"{where}.bot_id")
            cts_name = str(spec.get("cts", "")).strip()
            server = servers.get(cts_name) or CtsServer.objects.filter(name=cts_name).first()
            if server is None:
                self.problem(f"{where}.cts", _("unknown CTS server %(name)r."), name=cts_name)
            if bot_id is None or server is None:
                continue
            if (server.name, bot_id) in seen:
                self.problem(
                    f"{where}.bot_id",
                    _("%(bot_id)s is listed twice for CTS %(cts)s."),
                    bot_id=bot_id,
                    cts=server.name,
                )
                continue
            seen.add((server.name, bot_id))
            self.bot(spec, where, server, bot_id)

    def bot(self, spec: dict[str, Any], where: str, server: CtsServer, bot_id: uuid.UUID) -> None:
        bot = Bot.objects.filter(cts=server, bot_id=bot_id).first()
        secret = self._secret(spec["secret_key"], f"{where}.secret_key") if "secret_key" in spec else None
        if bot is None:
            if "secret_key" not in spec:
                self.problem(f"{where}.secret_key", _("required for a new bot."))
                return
            if secret is None:
                return
            bot = Bot(cts=server, bot_id=bot_id)
            try:
                bot.secret_key = secret
            except ValidationError as exc:
                self._validation(exc, f"{where}.secret_key")
                return
            secret = None
        for name in Bot.DECLARED_FIELDS:
            if name in spec:
                # YAML's empty value is None; the text fields mean "empty" by it.
                setattr(bot, name, spec[name] if spec[name] is not None else "")
        # A bot whose handler code is gone must still be changeable (switched off, say) by a file that
        # does not name a handler.
        exclude = ["secret_key_ciphertext"]
        if bot.pk is not None and "handler" not in spec:
            exclude.append("handler")
        if not self._save(bot, where, exclude=exclude):
            return
        if secret is not None and secret != bot.secret_key:
            try:
                bot = bot_secret_rotate(bot=bot, new_secret=secret)
            except ValidationError as exc:
                self._validation(exc, f"{where}.secret_key")
        if "chats" in spec:
            self.chats(bot, spec["chats"], f"{where}.chats")
        if "commands" in spec:
            self.commands(bot, spec["commands"], f"{where}.commands")
        if "roles" in spec:
            self.roles(bot, spec["roles"], f"{where}.roles")
        if "smartapp" in spec:
            self.smartapp(bot, spec["smartapp"], f"{where}.smartapp")

    def chats(self, bot: Bot, value: Any, where: str) -> None:
        spec = self._mapping(value or {}, where, {"allow", "deny"})
        if spec is None:
            return
        wanted: dict[uuid.UUID, ChatRule.Kind] = {}
        for kind in (ChatRule.Kind.ALLOW, ChatRule.Kind.DENY):
            for index, raw in enumerate(self._list(spec.get(kind), f"{where}.{kind}")):
                chat_id = self._uuid(raw, f"{where}.{kind}[{index}]")
                if chat_id is None:
                    continue
                if chat_id in wanted:
                    if wanted[chat_id] == kind:
                        message = _("chat %(chat)s is listed twice.")
                    else:
                        message = _("chat %(chat)s is both allowed and denied.")
                    self.problem(f"{where}.{kind}[{index}]", message, chat=chat_id)
                wanted[chat_id] = kind
        existing = {rule.chat_id: rule for rule in bot.chat_rules.all()}
        for chat_id, rule in existing.items():
            if chat_id not in wanted:
                rule.delete()
        for chat_id, kind in wanted.items():
            rule = existing.get(chat_id) or ChatRule(bot=bot, chat_id=chat_id)
            if rule.pk is None or rule.kind != kind:
                rule.kind = kind
                self._save(rule, f"{where}.{kind}")

    def commands(self, bot: Bot, value: Any, where: str) -> None:
        value = {} if value is None else value  # an empty ``commands:`` in YAML clears the rules
        if not isinstance(value, dict):
            self.problem(where, _("expected a mapping from command to its rule."))
            return
        existing = {rule.command: rule for rule in bot.command_rules.all()}
        for command, rule in existing.items():
            if command not in value:
                rule.delete()
        for command, raw in value.items():
            spec = self._mapping(raw or {}, f"{where}.{command}", COMMAND_KEYS)
            if spec is None:
                continue
            rule = existing.get(str(command)) or CommandRule(bot=bot, command=str(command))
            rule.user_huids = self._list(spec.get("user_huids"), f"{where}.{command}.user_huids")
            rule.ad_logins = self._list(spec.get("ad_logins"), f"{where}.{command}.ad_logins")
            rule.ad_domains = self._list(spec.get("ad_domains"), f"{where}.{command}.ad_domains")
            rule.chat_admins_only = bool(spec.get("chat_admins_only", False))
            self._save(rule, f"{where}.{command}")

    def roles(self, bot: Bot, value: Any, where: str) -> None:
        users = get_user_model()
        wanted: dict[tuple[str, int], str] = {}
        for index, raw in enumerate(self._list(value, where)):
            item_where = f"{where}[{index}]"
            spec = self._mapping(raw, item_where, {"user", "group", "role"})
            if spec is None:
                continue
            if ("user" in spec) == ("group" in spec):
                self.problem(item_where, _("give either user or group."))
                continue
            if spec.get("role") not in Role.values:
                self.problem(f"{item_where}.role", _("one of %(roles)s."), roles=", ".join(Role.values))
                continue
            key: tuple[str, int | None] | None
            if "user" in spec:
                user = users.objects.filter(**{users.USERNAME_FIELD: spec["user"]}).first()
                key = ("user", user.pk) if user else None
            else:
                group = Group.objects.filter(name=spec["group"]).first()
                key = ("group", group.pk) if group else None
            if key is None:
                name = spec.get("user", spec.get("group"))
                self.problem(item_where, _("no user or group named %(name)r in the portal."), name=name)
                continue
            if key in wanted:
                self.problem(item_where, _("this user or group is listed twice."))
                continue
            wanted[key] = spec["role"]
        existing: dict[tuple[str, int | None], BotRole] = {
            ("user", r.user_id) if r.user_id else ("group", r.group_id): r for r in bot.roles.all()
        }
        for key, role in existing.items():
            if key not in wanted:
                role.delete()
        for (holder_kind, holder_pk), role_name in wanted.items():
            role = existing.get((holder_kind, holder_pk)) or BotRole(bot=bot, **{f"{holder_kind}_id": holder_pk})
            if role.pk is None or role.role != role_name:
                role.role = role_name
                self._save(role, where)

    def smartapp(self, bot: Bot, value: Any, where: str) -> None:
        spec = self._mapping(value or {}, where, SMARTAPP_KEYS)
        if spec is None:
            return
        smartapp = SmartApp.objects.filter(bot=bot).first() or SmartApp(bot=bot)
        for name, item in spec.items():
            setattr(smartapp, name, item)
        self._save(smartapp, where)


def spec_apply(data: dict[str, Any], *, dry_run: bool = False, environ: Mapping[str, str] | None = None) -> ApplyResult:
    """Make the registry match ``data``; raise :class:`SpecError` listing every problem otherwise."""
    applier = _Applier(os.environ if environ is None else environ)
    unknown = sorted(set(map(str, data)) - {"cts", "bots"})
    if unknown:
        raise SpecError([_("unknown top-level key(s) %(keys)s; allowed: bots, cts.") % {"keys": ", ".join(unknown)}])
    data = applier.interpolate(data, "")
    if applier.problems:
        raise SpecError(applier.problems)
    result = ApplyResult(dry_run=dry_run)
    # Changes are recorded as made by whoever the caller acts as (bots/audit.py: acting_as).
    with audit.collecting() as records, transaction.atomic():
        servers = applier.cts(applier._list(data.get("cts"), "cts"))
        applier.bots(applier._list(data.get("bots"), "bots"), servers)
        if applier.problems:
            raise SpecError(applier.problems)  # leaving the atomic block by an exception rolls it back
        result.changes = list(records)
        if dry_run:
            transaction.set_rollback(True)
    return result
