"""The chat simulator: a page where a portal user plays a sandbox user talking to a bot.

One page (``sandbox/simulator.html``) with named partials: the chat feed and the traffic panel are
polled by htmx every second and answered 204 while nothing changed; the composer, the button presses
and the system-event menu post here and get their partial back. The views parse and check who may do
what; ``services.simulator`` does it. Only staff reach it, and only for the sandbox bots they may
operate (``simulator_bot_list``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from django import forms
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from bots.models import Bot, SmartApp
from bots.sandbox.auth import origin_of
from bots.sandbox.models import SandboxChat, SandboxMember, SandboxMessage, SandboxUser
from bots.sandbox.selectors import sandbox_bot_list
from bots.sandbox.services import simulator as sim
from bots.sandbox.services.simulator_reads import (
    chat_feed,
    chat_traffic,
    mention_targets,
    simulator_bot_list,
    simulator_chat_list,
    simulator_user_list,
)
from bots.sandbox.services.simulator_smartapp import smartapp_last_event_id
from bots.sandbox.services.user_send import UserSendResult

PAGE = "sandbox/simulator.html"
REFRESH_EVENT = "sim-refresh"


# --- who, with whom, where ---------------------------------------------------------------------------


@dataclass
class Scope:
    """The bot, the sandbox user and the chat the page is about (the chat may be missing)."""

    bots: list[Bot]
    users: list[SandboxUser]
    bot: Bot | None
    user: SandboxUser | None
    chat: SandboxChat | None
    chats: list[SandboxChat]
    errors: list[str]

    def query(self) -> str:
        params: dict[str, str] = {}
        if self.bot is not None:
            params["bot"] = str(self.bot.pk)
        if self.user is not None:
            params["user"] = str(self.user.huid)
        if self.chat is not None:
            params["chat"] = str(self.chat.group_chat_id)
        return urlencode(params)

    @property
    def ready(self) -> bool:
        return self.bot is not None and self.user is not None and self.chat is not None and not self.errors


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _default_user(bot: Bot | None, users: list[SandboxUser]) -> SandboxUser | None:
    """Someone with a personal chat with the bot, else in a chat with it, else anyone."""
    if bot is None or not users:
        return users[0] if users else None
    chats = SandboxChat.objects.filter(members__huid=bot.bot_id)
    for personal_only in (True, False):
        found = chats.filter(chat_type=SandboxChat.Type.CHAT) if personal_only else chats
        huids = set(SandboxMember.objects.filter(chat__in=found).values_list("huid", flat=True))
        for person in users:
            if person.huid in huids:
                return person
    return users[0]


def _scope(request: HttpRequest, data: Any) -> Scope:
    """Read ``bot``, ``user`` and ``chat`` from ``data``; fill what is missing with the first choice.

    A bot of the sandbox the user has no operator role on is refused (403), not skipped.
    """
    bots = list(simulator_bot_list(user=request.user))
    users = list(simulator_user_list())
    errors: list[str] = []

    bot: Bot | None = bots[0] if bots else None
    raw_bot = data.get("bot")
    if raw_bot:
        wanted = next((item for item in bots if str(item.pk) == str(raw_bot)), None)
        if wanted is None:
            if str(raw_bot).isdigit() and sandbox_bot_list().filter(pk=int(raw_bot)).exists():
                raise PermissionDenied(_("You have no operator role on this bot."))
            errors.append(_("There is no sandbox bot %(bot)s.") % {"bot": raw_bot})
        else:
            bot = wanted

    user: SandboxUser | None = _default_user(bot, users)
    raw_user = data.get("user")
    if raw_user:
        huid = _uuid(raw_user)
        user = next((item for item in users if item.huid == huid), None)
        if user is None:
            errors.append(_("There is no sandbox user %(user)s.") % {"user": raw_user})

    chats = list(simulator_chat_list(bot=bot, user=user)) if bot is not None and user is not None else []
    chat: SandboxChat | None = None
    raw_chat = data.get("chat")
    if raw_chat:
        chat_id = _uuid(raw_chat)
        chat = next((item for item in chats if item.group_chat_id == chat_id), None)
        if chat is None and bot is not None and user is not None:
            errors.append(_("%(user)s and the bot have no chat %(chat)s in common.") % {"user": user, "chat": raw_chat})
    elif chats:
        personal = [item for item in chats if item.chat_type == SandboxChat.Type.CHAT]
        chat = (personal or chats)[0]
    return Scope(bots=bots, users=users, bot=bot, user=user, chat=chat, chats=chats, errors=errors)


def scope_ready(request: HttpRequest, data: Any) -> Scope:
    """A scope the actions can use; a readable refusal otherwise."""
    scope = _scope(request, data)
    if scope.errors:
        raise sim.SimulatorError(" ".join(scope.errors))
    if scope.bot is None or scope.user is None or scope.chat is None:
        raise sim.SimulatorError(_("Pick a bot, a user and a chat first."))
    return scope


def _htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))  # set by django-htmx's middleware


def _page_url(scope: Scope) -> str:
    return f"{reverse('sandbox:simulator')}?{scope.query()}"


# --- what the page shows -----------------------------------------------------------------------------


def _context(request: HttpRequest, scope: Scope, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": _("Chat simulator"),
        "scope": scope,
        "query": scope.query(),
        "system_events": sim.system_event_choices(),
        "max_file_kb": sim.file_size_limit() // 1024,
    }
    if scope.ready:
        assert scope.bot is not None and scope.user is not None and scope.chat is not None
        context["feed"] = chat_feed(bot=scope.bot, chat=scope.chat, user=scope.user)
        context["traffic"] = chat_traffic(bot=scope.bot, chat=scope.chat)
        people, chats = mention_targets(scope.chat)
        context["mention_people"] = people
        context["mention_chats"] = chats
        smartapp = SmartApp.objects.filter(bot=scope.bot).first()
        if smartapp is not None and smartapp.bundle and scope.bot.enabled:
            context["smartapp"] = smartapp
            context["smartapp_entry"] = reverse("sandbox:simulator_smartapp_static", args=[scope.bot.pk, "index.html"])
            context["smartapp_after"] = smartapp_last_event_id(bot=scope.bot, chat=scope.chat)
    has_personal = any(chat.chat_type == SandboxChat.Type.CHAT for chat in scope.chats)
    context["can_open_personal"] = scope.bot is not None and scope.user is not None and not has_personal
    return context | extra


@require_GET
@staff_member_required
def simulator(request: HttpRequest) -> HttpResponse:
    scope = _scope(request, request.GET)
    return render(request, PAGE, _context(request, scope))


def _poll(request: HttpRequest, partial: str, build: Any) -> HttpResponse:
    scope = _scope(request, request.GET)
    if not scope.ready:
        return HttpResponse(status=204)
    value = build(scope)
    if request.GET.get("v") == value.version:
        return HttpResponse(status=204)  # nothing changed: htmx keeps what it shows
    return render(request, f"{PAGE}#{partial}", {"scope": scope, "query": scope.query(), partial: value})


@require_GET
@staff_member_required
def feed(request: HttpRequest) -> HttpResponse:
    return _poll(request, "feed", lambda s: chat_feed(bot=s.bot, chat=s.chat, user=s.user))


@require_GET
@staff_member_required
def traffic(request: HttpRequest) -> HttpResponse:
    return _poll(request, "traffic", lambda s: chat_traffic(bot=s.bot, chat=s.chat))


# --- actions -----------------------------------------------------------------------------------------


@dataclass
class Notice:
    """What the page says after an action: the bot's answer, or why nothing was sent."""

    text: str
    failed: bool
    detail: str = ""


def _answer_notice(sent: UserSendResult, done: str) -> Notice:
    if sent.status_code is None:
        return Notice(_("The bot could not be reached: %(error)s") % {"error": sent.error}, failed=True)
    if not 200 <= sent.status_code < 300:
        return Notice(
            _("The bot answered %(status)s.") % {"status": sent.status_code}, failed=True, detail=sent.body[:2000]
        )
    return Notice(done, failed=False)


def _notice_response(
    request: HttpRequest, scope: Scope | None, notice: Notice, template: str = "notice"
) -> HttpResponse:
    if not _htmx(request):
        if scope is not None and not notice.failed:
            return HttpResponseRedirect(_page_url(scope))
        context = _context(request, scope or _scope(request, {}), notice=notice)
        return render(request, PAGE, context, status=400 if notice.failed else 200)
    response = render(request, f"{PAGE}#{template}", {"notice": notice})
    return trigger_client_event(response, REFRESH_EVENT)


class ComposerForm(forms.Form):
    text = forms.CharField(label=gettext_lazy("Message"), required=False, max_length=4096, strip=False)
    file = forms.FileField(label=gettext_lazy("File"), required=False)
    reply_to = forms.UUIDField(required=False)


@require_POST
@staff_member_required
def send(request: HttpRequest) -> HttpResponse:
    form = ComposerForm(request.POST, request.FILES)
    scope: Scope | None = None
    try:
        scope = scope_ready(request, request.POST)
        if not form.is_valid():
            raise sim.SimulatorError(" ".join(str(error) for errors in form.errors.values() for error in errors))
        upload = None
        uploaded = form.cleaned_data["file"]
        if uploaded is not None:
            if uploaded.size > sim.file_size_limit():
                raise sim.SimulatorError(
                    _("The file is too large: at most %(size)d KB goes through the Bot API.")
                    % {"size": sim.file_size_limit() // 1024}
                )
            upload = sim.Upload(uploaded.name, uploaded.read(), uploaded.content_type or "")
        assert scope.bot is not None and scope.chat is not None and scope.user is not None
        sent = sim.message_send(
            bot=scope.bot,
            chat=scope.chat,
            user=scope.user,
            text=form.cleaned_data.get("text") or "",
            upload=upload,
            reply_to=form.cleaned_data.get("reply_to"),
            origin=origin_of(request),
        )
    except sim.SimulatorError as exc:
        return _composer(request, scope, form, Notice(str(exc), failed=True))
    notice = _answer_notice(sent, _("Sent."))
    return _composer(request, scope, ComposerForm() if not notice.failed else form, notice)


def _composer(request: HttpRequest, scope: Scope | None, form: ComposerForm, notice: Notice) -> HttpResponse:
    if not _htmx(request):
        if scope is not None and not notice.failed:
            return HttpResponseRedirect(_page_url(scope))
        page = _context(request, scope or _scope(request, {}), notice=notice, form=form)
        return render(request, PAGE, page, status=400)
    context: dict[str, Any] = {"scope": scope, "query": scope.query() if scope else "", "notice": notice, "form": form}
    if scope is not None and scope.chat is not None:
        people, chats = mention_targets(scope.chat)
        context |= {"mention_people": people, "mention_chats": chats, "max_file_kb": sim.file_size_limit() // 1024}
    response = render(request, f"{PAGE}#composer", context)
    return trigger_client_event(response, REFRESH_EVENT)


def _int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise sim.SimulatorError(_("%(name)s must be a number.") % {"name": name}) from None
    if number < 0:
        raise sim.SimulatorError(_("%(name)s must not be negative.") % {"name": name})
    return number


@require_POST
@staff_member_required
def press(request: HttpRequest) -> HttpResponse:
    scope: Scope | None = None
    try:
        scope = scope_ready(request, request.POST)
        sync_id = _uuid(request.POST.get("message"))
        if sync_id is None:
            raise sim.SimulatorError(_("Which message's button? The message ID is missing or malformed."))
        assert scope.bot is not None and scope.chat is not None and scope.user is not None
        result = sim.button_press_send(
            bot=scope.bot,
            chat=scope.chat,
            user=scope.user,
            sync_id=sync_id,
            row=_int(request.POST.get("row"), "row"),
            column=_int(request.POST.get("column"), "column"),
            keyboard=request.POST.get("keyboard") == "1",
            origin=origin_of(request),
        )
    except sim.SimulatorError as exc:
        return _notice_response(request, scope, Notice(str(exc), failed=True))
    notice = _answer_notice(result.sent, _("Button pressed."))
    if result.alert and not notice.failed:
        notice = Notice(result.alert, failed=False)
    return _notice_response(request, scope, notice)


@require_POST
@staff_member_required
def system_event(request: HttpRequest) -> HttpResponse:
    scope: Scope | None = None
    try:
        scope = scope_ready(request, request.POST)
        assert scope.bot is not None and scope.chat is not None and scope.user is not None
        event = str(request.POST.get("event") or "")
        sent = sim.system_event_send(
            bot=scope.bot, chat=scope.chat, user=scope.user, event=event, origin=origin_of(request)
        )
    except sim.SimulatorError as exc:
        return _notice_response(request, scope, Notice(str(exc), failed=True))
    label = dict(sim.system_event_choices()).get(event, event)
    return _notice_response(request, scope, _answer_notice(sent, _("Event sent: %(event)s.") % {"event": label}))


@require_POST
@staff_member_required
def personal_chat(request: HttpRequest) -> HttpResponse:
    scope = _scope(request, {key: request.POST.get(key) for key in ("bot", "user")})
    if scope.errors or scope.bot is None or scope.user is None:
        message = " ".join(scope.errors) or _("Pick a bot and a user first.")
        return _notice_response(request, scope, Notice(message, failed=True))
    try:
        opened = sim.personal_chat_open(bot=scope.bot, user=scope.user, origin=origin_of(request))
    except sim.SimulatorError as exc:
        return _notice_response(request, scope, Notice(str(exc), failed=True))
    scope.chat = opened.chat
    scope.errors = []
    url = _page_url(scope)
    return HttpResponseClientRedirect(url) if _htmx(request) else HttpResponseRedirect(url)


@require_GET
@staff_member_required
def message_file(request: HttpRequest, sync_id: uuid.UUID) -> HttpResponse:
    """The file of a message in a chat the page may show."""
    scope = _ready_or_404(request)
    message = (
        SandboxMessage.objects.select_related("file")
        .filter(chat=scope.chat, sync_id=sync_id, file__isnull=False)
        .first()
    )
    if message is None or message.file is None:
        return HttpResponse(_("No such file in this chat."), status=404, content_type="text/plain; charset=utf-8")
    file = message.file
    response = HttpResponse(bytes(file.content), content_type="application/octet-stream")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(file.file_name, safe='')}"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _ready_or_404(request: HttpRequest) -> Scope:
    try:
        return scope_ready(request, request.GET)
    except sim.SimulatorError as exc:
        raise Http404(str(exc)) from None


def json_error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status, json_dumps_params={"ensure_ascii": False})


def json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        raise sim.SimulatorError(_("The request body is not JSON.")) from None
    if not isinstance(data, dict):
        raise sim.SimulatorError(_("The request body must be a JSON object."))
    return data
