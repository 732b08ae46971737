"""The bodies the portal answers BotX with, checked against pybotx's builders of the same answers."""

from __future__ import annotations

import json
import os

import pytest

from bots.botx.responses import (
    MenuCommand,
    accepted,
    bot_disabled,
    smartapp_error,
    smartapp_ok,
    status_result,
    unverified_request,
)
from tests.botx import payloads

# Read when pybotx is imported: keeps it from reconfiguring logging for the whole test run.
os.environ.setdefault("PYBOTX_CONFIGURE_LOGGER", "0")
import pybotx
from pybotx.models.status import BotMenu, build_bot_status_response
from pybotx.models.sync_smartapp_event import (
    BotAPISyncSmartAppEventErrorResponse,
    BotAPISyncSmartAppEventResultResponse,
)


def test_accepted_is_what_pybotx_answers():
    assert accepted() == {"result": "accepted"} == pybotx.build_command_accepted_response()


def test_bot_disabled_is_what_pybotx_answers():
    body = bot_disabled("The bot is switched off")

    assert body == {"reason": "bot_disabled", "error_data": {"status_message": "The bot is switched off"}, "errors": []}
    assert body == pybotx.build_bot_disabled_response("The bot is switched off")


def test_unverified_request_is_what_pybotx_answers():
    body = unverified_request("Signature verification failed")

    assert body == {
        "reason": "unverified_request",
        "error_data": {"status_message": "Signature verification failed"},
        "errors": [],
    }
    assert body == pybotx.build_unverified_request_response("Signature verification failed")


def test_the_status_of_a_working_bot_is_what_pybotx_answers():
    commands = [MenuCommand(body="/help", name="/help", description="Show help")]

    body = status_result(enabled=True, status_message="Bot is working", commands=commands)

    assert body == {
        "status": "ok",
        "result": {
            "enabled": True,
            "status_message": "Bot is working",
            "commands": [{"description": "Show help", "body": "/help", "name": "/help"}],
        },
    }
    assert body == build_bot_status_response(BotMenu({"/help": "Show help"}))


def test_the_status_of_a_disabled_bot_has_no_commands_and_a_message():
    body = status_result(enabled=False, status_message="Down for maintenance", commands=[])

    assert body["result"] == {"enabled": False, "status_message": "Down for maintenance", "commands": []}


def test_a_menu_entry_may_show_a_name_other_than_its_body():
    body = status_result(
        enabled=True,
        status_message=None,
        commands=[MenuCommand(body="/comment #text", name="Comment", description="Leave a comment")],
    )

    assert body["result"]["commands"] == [
        {"description": "Leave a comment", "body": "/comment #text", "name": "Comment"}
    ]
    assert body["result"]["status_message"] is None


def test_a_smartapp_answer_is_what_pybotx_answers():
    body = smartapp_ok({"items": [1, 2, 3]})

    assert body == {"status": "ok", "result": {"data": {"items": [1, 2, 3]}, "files": []}}
    assert body == BotAPISyncSmartAppEventResultResponse.from_domain(data={"items": [1, 2, 3]}).jsonable_dict()


def test_a_smartapp_answer_may_carry_files():
    file = payloads.load("smartapp_request")["payload"]["files"][0]

    body = smartapp_ok(None, [file])

    assert body["result"] == {"data": None, "files": [file]}
    assert body["result"]["files"][0] is not file


def test_a_smartapp_error_is_what_pybotx_answers():
    errors = [{"reason": "Method not found", "id": "METHOD_NOT_FOUND", "meta": {"method": "sum"}}]

    body = smartapp_error(errors)

    assert body == {"status": "error", "reason": "smartapp_error", "errors": errors, "error_data": {}}
    assert body == BotAPISyncSmartAppEventErrorResponse.from_domain(errors=errors).jsonable_dict()


def test_a_smartapp_error_may_have_its_own_reason_and_data():
    body = smartapp_error(["quota"], reason="quota_exceeded", error_data={"limit": 10})

    assert body == {"status": "error", "reason": "quota_exceeded", "errors": ["quota"], "error_data": {"limit": 10}}


@pytest.mark.parametrize(
    "body",
    [
        accepted(),
        bot_disabled("x"),
        unverified_request("x"),
        status_result(enabled=True, status_message=None, commands=[MenuCommand("/a", "/a", "A")]),
        smartapp_ok({"a": [1]}),
        smartapp_error([{"id": "E"}]),
    ],
)
def test_every_body_is_json(body):
    assert json.loads(json.dumps(body)) == body


def test_bodies_are_new_objects_each_time():
    first = bot_disabled("x")
    first["errors"].append("changed")
    assert bot_disabled("x")["errors"] == []

    error_data = {"a": 1}
    smartapp_error([], error_data=error_data)["error_data"]["b"] = 2
    assert error_data == {"a": 1}
