"""The change history: every create, update and delete of a registry row, who did it, append-only."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, Group, User
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import path

from bots import crypto
from bots.audit import SECRET_CHANGED, AuditActorMiddleware, acting_as
from bots.models import Bot, BotRole, ChangeRecord, ChatRule, CommandRule, CtsServer, Role, SmartApp
from bots.services.registry import bot_secret_rotate, bot_set_enabled
from tests.conftest import ECHO_SECRET, Cast

CHAT_ID = "6fafda2c-6505-57a5-a088-25ea5d1d0364"
NEW_SECRET = "cafe0002cafe0002cafe0002"


def records_of(instance: models.Model, object_id: object = None) -> list[ChangeRecord]:
    """The history of one row, oldest first."""
    return list(
        ChangeRecord.objects.filter(model=instance._meta.label_lower, object_id=str(object_id or instance.pk)).order_by(
            "id"
        )
    )


def last_record() -> ChangeRecord:
    return ChangeRecord.objects.order_by("-id")[0]


# One row of each audited model, with a field to change and its new value.
@dataclass
class Subject:
    instance: models.Model
    field: str
    new_value: Any


@pytest.fixture
def smartbot(make_bot: Callable[..., Bot]) -> Bot:
    return make_bot(kind=Bot.Kind.SMARTAPP, name="Calendar", app_id="calendar")


def _cts(bot: Bot, smartbot: Bot) -> Subject:
    return Subject(CtsServer.objects.create(name="second", base_url="https://cts2.example.com"), "verify_tls", False)


def _bot(bot: Bot, smartbot: Bot) -> Subject:
    return Subject(bot, "name", "Echo 2")


def _smartapp(bot: Bot, smartbot: Bot) -> Subject:
    return Subject(SmartApp.objects.create(bot=smartbot), "app_version", "1.1.0")


def _botrole(bot: Bot, smartbot: Bot) -> Subject:
    user = User.objects.create_user("holder")
    return Subject(BotRole.objects.create(bot=bot, user=user, role=Role.AUDITOR), "role", Role.OPERATOR.value)


def _chatrule(bot: Bot, smartbot: Bot) -> Subject:
    return Subject(ChatRule.objects.create(bot=bot, chat_id=CHAT_ID, kind="allow"), "note", "the ops chat")


def _commandrule(bot: Bot, smartbot: Bot) -> Subject:
    return Subject(CommandRule.objects.create(bot=bot, command="/report"), "chat_admins_only", True)


SUBJECTS = {
    "cts": _cts,
    "bot": _bot,
    "smartapp": _smartapp,
    "botrole": _botrole,
    "chatrule": _chatrule,
    "commandrule": _commandrule,
}


@pytest.fixture(params=list(SUBJECTS))
def subject(request: pytest.FixtureRequest, bot: Bot, smartbot: Bot) -> Subject:
    return SUBJECTS[request.param](bot, smartbot)


# --- create ------------------------------------------------------------------------------------------


def test_create_is_recorded_once_for_every_audited_model(subject: Subject) -> None:
    [record] = records_of(subject.instance)

    assert record.action == ChangeRecord.Action.CREATE
    assert record.object_repr == str(subject.instance)
    assert record.changes
    for value in record.changes.values():
        assert value == SECRET_CHANGED or (value[0] is None and value[1] is not None)


def test_create_records_every_field_that_has_a_value_under_its_name(subject: Subject) -> None:
    instance = subject.instance
    model = type(instance)
    secret_fields: dict[str, str] = getattr(model, "SECRET_FIELDS", {})
    ignored: set[str] = getattr(model, "AUDIT_IGNORED_FIELDS", set())
    expected = set()
    for field in model._meta.concrete_fields:
        if field.primary_key or field.name in {"created_at", "updated_at"} | ignored:
            continue
        value = field.value_from_object(instance)
        if field.name in secret_fields:
            if value:
                expected.add(secret_fields[field.name])
        elif value is not None:
            expected.add(field.name)

    [record] = records_of(instance)

    assert set(record.changes) == expected


def test_create_of_a_cts_records_all_its_fields(cts: CtsServer) -> None:
    [record] = records_of(cts)

    assert record.changes == {
        "name": [None, "main"],
        "base_url": [None, "https://cts.example.com"],
        "host": [None, "cts.example.com"],
        "verify_tls": [None, True],
        "auth_mode": [None, "v2"],
        "trusted_issuers": [None, []],
    }


def test_create_of_a_bot_records_its_fields_and_only_that_the_secret_was_set(bot: Bot) -> None:
    [record] = records_of(bot)

    changes = record.changes
    assert changes["bot_id"] == [None, str(bot.bot_id)]
    assert changes["cts"] == [None, bot.cts_id]
    assert changes["name"] == [None, "Echo"]
    assert changes["handler"] == [None, "echo"]
    assert changes["kind"] == [None, "chatbot"]
    assert changes["protocol_version"] == [None, 4]
    assert changes["enabled"] == [None, True]
    assert changes["allowed_data"] == [None, "commands"]
    assert changes["jwt_policy"] == [None, "required"]
    assert changes["description"] == [None, ""]
    assert changes["status_message"] == [None, ""]
    assert changes["secret_key"] == SECRET_CHANGED
    assert not {"secret_key_ciphertext", "secret_key_last4", "previous_secret_last4"} & changes.keys()
    assert "echo-bot" in json.dumps(changes)


def test_create_of_a_bot_records_app_id_under_its_own_name(bot: Bot) -> None:
    [record] = records_of(bot)

    assert record.changes["app_id"] == [None, "echo-bot"]


def test_create_of_a_chat_rule_records_chat_id_under_its_own_name(bot: Bot) -> None:
    rule = ChatRule.objects.create(bot=bot, chat_id=CHAT_ID, kind="deny")

    [record] = records_of(rule)

    assert record.changes == {
        "bot": [None, bot.pk],
        "chat_id": [None, CHAT_ID],
        "kind": [None, "deny"],
        "note": [None, ""],
    }


def test_create_of_a_role_records_its_holder_and_role(bot: Bot) -> None:
    user = User.objects.create_user("holder")
    group = Group.objects.create(name="team")
    by_user = BotRole.objects.create(bot=bot, user=user, role=Role.OWNER)
    by_group = BotRole.objects.create(bot=bot, group=group, role=Role.AUDITOR)

    [user_record] = records_of(by_user)
    [group_record] = records_of(by_group)

    assert user_record.changes["bot"] == [None, bot.pk]
    assert user_record.changes["user"] == [None, user.pk]
    assert user_record.changes["role"] == [None, "owner"]
    assert "group" not in user_record.changes
    assert group_record.changes["group"] == [None, group.pk]
    assert group_record.changes["role"] == [None, "auditor"]
    assert "user" not in group_record.changes


def test_create_of_a_command_rule_records_its_lists(bot: Bot) -> None:
    rule = CommandRule.objects.create(bot=bot, command="/report", ad_logins=["alice"])

    [record] = records_of(rule)

    assert record.changes["command"] == [None, "/report"]
    assert record.changes["ad_logins"] == [None, ["alice"]]
    assert record.changes["user_huids"] == [None, []]
    assert record.changes["chat_admins_only"] == [None, False]


def test_create_of_a_smartapp_records_its_settings(smartbot: Bot) -> None:
    app = SmartApp.objects.create(bot=smartbot, link_regex="^https://cal/")

    [record] = records_of(app)

    assert record.changes["app_version"] == [None, "1.0.0"]
    assert record.changes["link_regex"] == [None, "^https://cal/"]
    assert record.changes["web_default_layout"] == [None, "minimal"]
    assert record.changes["bundle"] == [None, ""]


# --- update ------------------------------------------------------------------------------------------


def test_update_records_only_the_changed_field(subject: Subject) -> None:
    instance = type(subject.instance)._default_manager.get(pk=subject.instance.pk)
    old_value = getattr(instance, subject.field)
    setattr(instance, subject.field, subject.new_value)
    instance.save()

    _create, update = records_of(instance)

    assert update.action == ChangeRecord.Action.UPDATE
    assert update.changes == {subject.field: [old_value, subject.new_value]}


def test_each_update_is_compared_with_the_previous_save(subject: Subject) -> None:
    instance = subject.instance
    old_value = getattr(instance, subject.field)
    setattr(instance, subject.field, subject.new_value)
    instance.save()
    setattr(instance, subject.field, old_value)
    instance.save()

    _create, forth, back = records_of(instance)

    assert forth.changes == {subject.field: [old_value, subject.new_value]}
    assert back.changes == {subject.field: [subject.new_value, old_value]}


def test_update_that_changes_nothing_writes_no_row(subject: Subject) -> None:
    before = ChangeRecord.objects.count()

    subject.instance.save()
    type(subject.instance)._default_manager.get(pk=subject.instance.pk).save()

    assert ChangeRecord.objects.count() == before


def test_update_of_a_foreign_key_records_old_and_new_ids(bot: Bot) -> None:
    other = CtsServer.objects.create(name="second", base_url="https://cts2.example.com")
    old_cts = bot.cts_id

    bot.cts = other
    bot.save()

    assert last_record().changes == {"cts": [old_cts, other.pk]}


def test_update_of_a_datetime_is_recorded_as_iso_text(bot: Bot) -> None:
    bot_secret_rotate(bot=bot, new_secret=NEW_SECRET, grace=dt.timedelta(hours=1))

    old, new = last_record().changes["previous_secret_expires_at"]
    assert old is None
    assert dt.datetime.fromisoformat(new) == Bot.objects.get(pk=bot.pk).previous_secret_expires_at


def test_update_after_refresh_from_db_is_compared_with_the_refreshed_values(bot: Bot) -> None:
    loaded = Bot.objects.get(pk=bot.pk)
    bot_set_enabled(bot=bot, enabled=False)
    loaded.refresh_from_db()
    assert loaded.enabled is False

    loaded.enabled = True
    loaded.save()

    assert last_record().changes == {"enabled": [False, True]}


# --- delete ------------------------------------------------------------------------------------------


def test_delete_is_recorded_with_the_old_values(subject: Subject) -> None:
    instance = type(subject.instance)._default_manager.get(pk=subject.instance.pk)
    pk = instance.pk
    old_value = getattr(instance, subject.field)

    instance.delete()

    record = records_of(instance, object_id=pk)[-1]
    assert record.action == ChangeRecord.Action.DELETE
    assert record.changes[subject.field] == [_plain(old_value), None]


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, models.Choices) else value


def test_deleting_a_bot_records_the_rows_deleted_with_it(smartbot: Bot) -> None:
    Cast(smartbot)
    app = SmartApp.objects.create(bot=smartbot)
    chat = ChatRule.objects.create(bot=smartbot, chat_id=CHAT_ID, kind="deny")
    command = CommandRule.objects.create(bot=smartbot, command="/report")
    role_ids = list(smartbot.roles.values_list("pk", flat=True))
    bot_pk = smartbot.pk

    smartbot.delete()

    deletes = ChangeRecord.objects.filter(action=ChangeRecord.Action.DELETE)
    deleted = {(record.model, record.object_id) for record in deletes}
    assert deleted == {
        ("bots.bot", str(bot_pk)),
        ("bots.smartapp", str(app.pk)),
        ("bots.chatrule", str(chat.pk)),
        ("bots.commandrule", str(command.pk)),
        *(("bots.botrole", str(pk)) for pk in role_ids),
    }
    assert len(role_ids) == 3
    assert {record.bot_ref for record in deletes} == {str(smartbot.bot_id)}


def test_deleting_a_user_records_their_roles_deleted_with_them(bot: Bot) -> None:
    user = User.objects.create_user("leaver")
    role = BotRole.objects.create(bot=bot, user=user, role=Role.OWNER)

    user.delete()

    record = records_of(role)[-1]
    assert record.action == ChangeRecord.Action.DELETE
    assert record.changes["role"] == ["owner", None]
    assert record.bot_ref == str(bot.bot_id)


def test_deleting_a_group_records_its_roles_deleted_with_it(bot: Bot) -> None:
    group = Group.objects.create(name="leavers")
    role = BotRole.objects.create(bot=bot, group=group, role=Role.AUDITOR)
    group_pk = group.pk

    group.delete()

    record = records_of(role)[-1]
    assert record.action == ChangeRecord.Action.DELETE
    assert record.changes["group"] == [group_pk, None]


# --- secrets -----------------------------------------------------------------------------------------


def test_secret_change_is_recorded_as_changed_only(bot: Bot) -> None:
    bot.secret_key = NEW_SECRET
    bot.save()

    assert last_record().changes == {"secret_key": SECRET_CHANGED}


def test_reencryption_under_a_new_portal_key_is_no_change(bot: Bot) -> None:
    old_key = settings.ENCRYPTION_KEYS[0]
    before = ChangeRecord.objects.count()

    with override_settings(ENCRYPTION_KEYS=[Fernet.generate_key().decode(), old_key]):
        stored = Bot.objects.get(pk=bot.pk)
        stored.secret_key_ciphertext = crypto.reencrypt(stored.secret_key_ciphertext)
        stored.save()

    assert ChangeRecord.objects.count() == before


def test_setting_a_new_secret_under_a_new_portal_key_is_a_change(bot: Bot) -> None:
    old_key = settings.ENCRYPTION_KEYS[0]

    with override_settings(ENCRYPTION_KEYS=[Fernet.generate_key().decode(), old_key]):
        stored = Bot.objects.get(pk=bot.pk)
        stored.secret_key = NEW_SECRET
        stored.save()

    assert last_record().changes == {"secret_key": SECRET_CHANGED}


def test_rotation_records_both_keys_as_changed(bot: Bot) -> None:
    bot_secret_rotate(bot=bot, new_secret=NEW_SECRET, grace=dt.timedelta(hours=1))

    changes = last_record().changes
    assert changes["secret_key"] == SECRET_CHANGED
    assert changes["previous_secret_key"] == SECRET_CHANGED
    assert set(changes) == {"secret_key", "previous_secret_key", "previous_secret_expires_at"}


def test_secret_values_and_ciphertexts_appear_in_no_change_record(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(name="Leaky?")
    bot_secret_rotate(bot=bot, new_secret=NEW_SECRET, grace=dt.timedelta(hours=1))
    rotated = Bot.objects.get(pk=bot.pk)
    ciphertexts = [rotated.secret_key_ciphertext, rotated.previous_secret_ciphertext]
    bot_secret_rotate(bot=rotated, new_secret="third-secret-0003", grace=dt.timedelta(0))
    Bot.objects.get(pk=bot.pk).delete()

    dump = json.dumps(list(ChangeRecord.objects.values()), default=str)

    assert ChangeRecord.objects.filter(model="bots.bot", action="delete").exists()
    for secret in (ECHO_SECRET, NEW_SECRET, "third-secret-0003", *ciphertexts):
        assert secret not in dump
    # The last four characters are not recorded either: "changed" is all the history says.
    assert "last4" not in dump


# --- actor -------------------------------------------------------------------------------------------


def test_change_inside_acting_as_a_user_is_attributed_to_them(cast: Cast, bot: Bot) -> None:
    with acting_as(cast.owner):
        bot_set_enabled(bot=bot, enabled=False)

    record = last_record()
    assert record.actor == cast.owner
    assert record.actor_label == "owner"


def test_change_inside_acting_as_a_label_is_attributed_to_that_process(bot: Bot) -> None:
    with acting_as(label="bots apply"):
        bot_set_enabled(bot=bot, enabled=False)

    record = last_record()
    assert record.actor is None
    assert record.actor_label == "bots apply"


def test_change_outside_acting_as_is_attributed_to_system(cast: Cast, bot: Bot) -> None:
    with acting_as(cast.owner):
        pass
    bot_set_enabled(bot=bot, enabled=False)

    record = last_record()
    assert record.actor is None
    assert record.actor_label == "system"


def test_nested_acting_as_restores_the_outer_actor(cast: Cast, bot: Bot) -> None:
    with acting_as(cast.owner):
        with acting_as(label="bots apply"):
            bot_set_enabled(bot=bot, enabled=False)
        bot_set_enabled(bot=bot, enabled=True)

    disabled, enabled = records_of(bot)[-2:]
    assert (disabled.actor, disabled.actor_label) == (None, "bots apply")
    assert (enabled.actor, enabled.actor_label) == (cast.owner, "owner")


def test_unsaved_user_is_recorded_by_label_only(bot: Bot) -> None:
    with acting_as(User(username="ghost")):
        bot_set_enabled(bot=bot, enabled=False)

    record = last_record()
    assert record.actor is None
    assert record.actor_label == "ghost"


def test_deleting_the_actor_keeps_the_history_and_its_label(bot: Bot) -> None:
    temp = User.objects.create_user("temp", is_staff=True)
    with acting_as(temp):
        bot_set_enabled(bot=bot, enabled=False)
    record_id = last_record().pk

    temp.delete()

    record = ChangeRecord.objects.get(pk=record_id)
    assert record.actor is None
    assert record.actor_label == "temp"


def _create_cts(request: HttpRequest) -> HttpResponse:
    CtsServer.objects.create(name="via-request", base_url="https://cts9.example.com")
    return HttpResponse("created")


urlpatterns = [path("audit-test/create-cts", _create_cts)]


def test_middleware_attributes_a_requests_changes_to_its_user(cast: Cast) -> None:
    request = RequestFactory().post("/anything")
    request.user = cast.admin

    AuditActorMiddleware(_create_cts)(request)

    record = last_record()
    assert record.model == "bots.ctsserver"
    assert (record.actor, record.actor_label) == (cast.admin, "admin")


def test_middleware_leaves_an_anonymous_requests_changes_to_system(db: Any) -> None:
    request = RequestFactory().post("/anything")
    request.user = AnonymousUser()

    AuditActorMiddleware(_create_cts)(request)

    record = last_record()
    assert (record.actor, record.actor_label) == (None, "system")


@pytest.mark.urls("tests.test_audit")
def test_logged_in_request_through_the_middleware_stack_is_attributed_to_its_user(cast: Cast, client: Client) -> None:
    client.force_login(cast.admin)

    response = client.post("/audit-test/create-cts", secure=True)

    assert response.status_code == 200
    record = last_record()
    assert (record.model, record.action) == ("bots.ctsserver", "create")
    assert (record.actor, record.actor_label) == (cast.admin, "admin")


def test_actor_does_not_leak_past_the_request(cast: Cast) -> None:
    request = RequestFactory().post("/anything")
    request.user = cast.admin
    AuditActorMiddleware(_create_cts)(request)

    CtsServer.objects.create(name="after", base_url="https://cts8.example.com")

    assert last_record().actor_label == "system"


# --- append-only -------------------------------------------------------------------------------------


def test_saving_an_existing_change_record_is_refused(bot: Bot) -> None:
    record = last_record()
    record.actor_label = "someone else"

    with pytest.raises(PermissionError):
        record.save()

    assert ChangeRecord.objects.get(pk=record.pk).actor_label == "system"


def test_deleting_a_change_record_is_refused(bot: Bot) -> None:
    with pytest.raises(PermissionError):
        last_record().delete()


def test_deleting_change_records_in_bulk_is_refused(bot: Bot) -> None:
    count = ChangeRecord.objects.count()

    with pytest.raises(PermissionError):
        ChangeRecord.objects.all().delete()
    with pytest.raises(PermissionError):
        ChangeRecord.objects.filter(model="bots.bot").delete()

    assert ChangeRecord.objects.count() == count


def test_updating_change_records_in_bulk_is_refused(bot: Bot) -> None:
    with pytest.raises(PermissionError):
        ChangeRecord.objects.update(actor_label="someone else")
    record = last_record()
    record.actor_label = "someone else"
    with pytest.raises(PermissionError), transaction.atomic():
        ChangeRecord.objects.bulk_update([record], ["actor_label"])

    assert not ChangeRecord.objects.filter(actor_label="someone else").exists()


# --- bot_ref -----------------------------------------------------------------------------------------


def test_bot_ref_is_the_bots_uuid_for_the_bot_and_its_child_rows(subject: Subject, bot: Bot, smartbot: Bot) -> None:
    [record] = records_of(subject.instance)

    if isinstance(subject.instance, CtsServer):
        assert record.bot_ref == ""
    elif isinstance(subject.instance, SmartApp):
        assert record.bot_ref == str(smartbot.bot_id)
    else:
        assert record.bot_ref == str(bot.bot_id)


def test_history_of_a_bot_is_found_by_its_uuid(bot: Bot, cast: Cast) -> None:
    ChatRule.objects.create(bot=bot, chat_id=CHAT_ID, kind="allow")
    CommandRule.objects.create(bot=bot, command="/report")

    models_seen = set(ChangeRecord.objects.filter(bot_ref=str(bot.bot_id)).values_list("model", flat=True))

    assert models_seen == {"bots.bot", "bots.botrole", "bots.chatrule", "bots.commandrule"}
