"""The built-in bots in the console: scoped by the role on each bot, secrets write-only, settings that
take effect at once (reminders planned again, a schedule's next run recomputed)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bots.integrations.models import (
    BridgeCall,
    BridgeEndpoint,
    Conference,
    ConferenceReminder,
    ConferenceSchedule,
    ConferenceSettings,
    RecordingIntegration,
    WebhookRequest,
)
from bots.integrations.services.conferences import conference_plan
from bots.models import Bot
from tests.conftest import Cast

pytestmark = pytest.mark.django_db

OUR_SECRET = "ours-0123456789abcdef-secret"
THEIR_SECRET = "theirs-0123456789abcdef-secret"


@pytest.fixture
def sandbox_cts(cts: Any) -> Any:
    # Nothing here is delivered: a CTS on which nothing listens will do.
    return cts


@pytest.fixture
def handler_key() -> str:
    return "conference"


@pytest.fixture
def other(make_bot: Any) -> Bot:
    return make_bot(name="Theirs", handler="recordings")


def _client(user: Any) -> Client:
    client = Client(headers={"accept-language": "en"})
    client.force_login(user)
    return client


def _url(model: str, *args: Any, view: str = "changelist") -> str:
    return reverse(f"admin:integrations_{model}_{view}", args=args)


def _integration(bot: Bot, name: str, secret: str) -> RecordingIntegration:
    integration = RecordingIntegration(bot=bot, name=name)
    integration.secret = secret
    integration.save()
    return integration


@pytest.fixture
def rows(bot: Bot, other: Bot) -> dict[str, Any]:
    ours = _integration(bot, "Our recorder", OUR_SECRET)
    theirs = _integration(other, "Their recorder", THEIR_SECRET)
    WebhookRequest.objects.create(integration=ours, bot=bot, status="rejected", http_status=401, error="ours_error")
    WebhookRequest.objects.create(
        integration=theirs, bot=other, status="rejected", http_status=401, error="theirs_error"
    )
    WebhookRequest.objects.create(status="rejected", http_status=404, error="nobodys_error")
    BridgeCall.objects.create(bot=bot, text="our question", status="failed")
    BridgeCall.objects.create(bot=other, text="their question", status="failed")
    return {"ours": ours, "theirs": theirs}


def test_each_role_reads_its_bots_rows_only_and_never_a_secret(cast: Cast, rows: dict[str, Any]) -> None:
    for role in ("owner", "operator", "auditor"):
        client = _client(getattr(cast, role))

        integrations = client.get(_url("recordingintegration")).content.decode()
        requests = client.get(_url("webhookrequest")).content.decode()
        calls = client.get(_url("bridgecall")).content.decode()
        page = client.get(_url("recordingintegration", rows["ours"].pk, view="change"))

        assert "Our recorder" in integrations and "Their recorder" not in integrations, role
        assert "ours_error" in requests and "theirs_error" not in requests and "nobodys_error" not in requests, role
        assert "our question" in calls and "their question" not in calls, role
        assert page.status_code == 200, role
        text = page.content.decode()
        assert OUR_SECRET not in text and "••••cret" in text, role
        assert reverse("integrations:recordings_webhook", args=[str(rows["ours"].pk)]) in text, role
        theirs = client.get(_url("recordingintegration", rows["theirs"].pk, view="change"))
        assert theirs.status_code in {302, 403, 404}, role

    admin_requests = _client(cast.admin).get(_url("webhookrequest")).content.decode()
    assert "nobodys_error" in admin_requests, "requests of no known integration: superusers only"
    assert _client(cast.outsider).get(_url("recordingintegration")).status_code == 403


def test_only_an_owner_changes_settings(cast: Cast, bot: Bot) -> None:
    settings_row = ConferenceSettings.objects.create(bot=bot)
    data = {
        "bot": bot.pk,
        "reminder_offsets": "30, 10",
        "tell_conference_chat": "on",
        "recurring_frequency": "daily",
        "recurring_lead_minutes": "5",
    }
    url = _url("conferencesettings", settings_row.pk, view="change")

    for role in ("operator", "auditor"):
        response = _client(getattr(cast, role)).post(url, data)
        assert response.status_code == 403, role
    settings_row.refresh_from_db()
    assert settings_row.reminder_offsets == [15, 5]

    response = _client(cast.owner).post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    settings_row.refresh_from_db()
    assert (settings_row.reminder_offsets, settings_row.recurring_frequency) == ([30, 10], "daily")


def test_new_offsets_plan_the_known_conferences_reminders_again(cast: Cast, bot: Bot) -> None:
    start = timezone.now() + dt.timedelta(days=2)
    conference = Conference.objects.create(bot=bot, call_id=uuid.uuid4(), name="Planning", start_at=start, end_at=start)
    conference_plan(conference)
    assert sorted(conference.reminders.values_list("offset_minutes", flat=True)) == [5, 15]

    response = _client(cast.owner).post(
        _url("conferencesettings", view="add"),
        {
            "bot": bot.pk,
            "reminder_offsets": "60; 1",
            "tell_conference_chat": "on",
            "recurring_frequency": "weekly",
            "recurring_lead_minutes": "15",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    reminders = {r.offset_minutes: r.due_at for r in ConferenceReminder.objects.filter(conference=conference)}
    assert reminders == {60: start - dt.timedelta(minutes=60), 1: start - dt.timedelta(minutes=1)}


def test_bad_offsets_are_a_form_error(cast: Cast, bot: Bot) -> None:
    response = _client(cast.owner).post(
        _url("conferencesettings", view="add"),
        {
            "bot": bot.pk,
            "reminder_offsets": "15, soon",
            "recurring_frequency": "weekly",
            "recurring_lead_minutes": "15",
        },
    )

    assert response.status_code == 200
    assert "Give whole numbers of minutes separated by commas." in response.content.decode()
    assert not ConferenceSettings.objects.exists()


def test_a_schedule_edited_in_the_admin_gets_its_next_run_from_the_new_rhythm(cast: Cast, bot: Bot) -> None:
    start = timezone.now() - dt.timedelta(days=30, hours=1)
    conference = Conference.objects.create(bot=bot, call_id=uuid.uuid4(), name="Standup", start_at=start)
    conference_plan(conference)
    schedule = ConferenceSchedule.objects.get(conference=conference)
    assert schedule.frequency == "weekly"
    url = _url("conferenceschedule", schedule.pk, view="change")
    form = {
        "frequency": "daily",
        "interval": "1",
        "lead_minutes": "15",
        "next_run_0": timezone.localtime(schedule.next_run).strftime("%Y-%m-%d"),
        "next_run_1": timezone.localtime(schedule.next_run).strftime("%H:%M:%S"),
        "enabled": "on",
    }

    assert _client(cast.auditor).post(url, form).status_code == 403
    response = _client(cast.owner).post(url, form)

    assert response.status_code == 302, response.content.decode()[:3000]
    schedule.refresh_from_db()
    assert schedule.frequency == "daily"
    assert dt.timedelta(0) < schedule.meeting_at - timezone.now() <= dt.timedelta(days=1)


def test_a_recording_system_is_added_with_a_write_only_secret_for_a_bot_the_user_owns(
    cast: Cast, bot: Bot, other: Bot
) -> None:
    bot.handler = "recordings"
    bot.save()
    client = _client(cast.owner)

    form = client.get(_url("recordingintegration", view="add")).content.decode()
    assert f'value="{bot.pk}"' in form and f'value="{other.pk}"' not in form, "only bots the user manages"

    missing = client.post(
        _url("recordingintegration", view="add"), {"bot": bot.pk, "name": "Recorder", "enabled": "on"}
    )
    short = client.post(
        _url("recordingintegration", view="add"),
        {"bot": bot.pk, "name": "Recorder", "enabled": "on", "new_secret": "short"},
    )
    foreign = client.post(
        _url("recordingintegration", view="add"),
        {"bot": other.pk, "name": "Recorder", "enabled": "on", "new_secret": OUR_SECRET},
    )
    assert missing.status_code == short.status_code == foreign.status_code == 200
    assert "A shared secret is required." in missing.content.decode()
    assert not RecordingIntegration.objects.exists()

    created = client.post(
        _url("recordingintegration", view="add"),
        {"bot": bot.pk, "name": "Recorder", "enabled": "on", "new_secret": OUR_SECRET},
    )

    assert created.status_code == 302
    integration = RecordingIntegration.objects.get()
    assert integration.secret == OUR_SECRET
    assert integration.secret_ciphertext != OUR_SECRET
    page = client.get(_url("recordingintegration", integration.pk, view="change")).content.decode()
    assert OUR_SECRET not in page


def test_a_bridge_endpoint_must_be_https(cast: Cast, bot: Bot) -> None:
    bot.handler = "bridge"
    bot.save()

    response = _client(cast.owner).post(
        _url("bridgeendpoint", view="add"),
        {
            "bot": bot.pk,
            "url": "http://service.example.com/hook",
            "timeout_seconds": "5",
            "max_attempts": "3",
            "enabled": "on",
            "new_secret": OUR_SECRET,
        },
    )

    assert response.status_code == 200
    assert "The endpoint must be an https:// address." in response.content.decode()
    assert not BridgeEndpoint.objects.exists()


def test_the_pages_of_a_conference_and_a_bridge_call_show_their_history(cast: Cast, bot: Bot) -> None:
    start = timezone.now() + dt.timedelta(days=1)
    conference = Conference.objects.create(bot=bot, call_id=uuid.uuid4(), name="Retro", start_at=start)
    conference_plan(conference)
    call = BridgeCall.objects.create(bot=bot, text="question", status="failed", error="the endpoint answered 500")
    call.attempt_log.create(number=1, started_at=timezone.now(), status_code=500, outcome="transient")

    for role in ("owner", "auditor"):
        client = _client(getattr(cast, role))
        conference_page = client.get(_url("conference", conference.pk, view="change"))
        call_page = client.get(_url("bridgecall", call.pk, view="change"))

        assert conference_page.status_code == call_page.status_code == 200, role
        text = conference_page.content.decode()
        assert "Retro" in text and "Every week" in text, role
        assert "the endpoint answered 500" in call_page.content.decode(), role
    assert _client(cast.outsider).get(_url("conference", conference.pk, view="change")).status_code in {302, 403}


def test_an_owner_edits_the_schedule_on_the_conferences_page(cast: Cast, bot: Bot) -> None:
    start = timezone.now() - dt.timedelta(days=10)
    conference = Conference.objects.create(bot=bot, call_id=uuid.uuid4(), name="Sync", start_at=start)
    conference_plan(conference)
    schedule = ConferenceSchedule.objects.get(conference=conference)
    url = _url("conference", conference.pk, view="change")
    page = _client(cast.owner).get(url)
    assert page.status_code == 200
    # What the page's form posts back: the schedule's inline; the reminders' inline is read-only.
    data = {
        "schedule-TOTAL_FORMS": "1",
        "schedule-INITIAL_FORMS": "1",
        "schedule-MIN_NUM_FORMS": "0",
        "schedule-MAX_NUM_FORMS": "1",
        "schedule-0-id": str(schedule.pk),
        "schedule-0-conference": str(conference.pk),
        "schedule-0-frequency": "weekdays",
        "schedule-0-interval": "1",
        "schedule-0-lead_minutes": "10",
        "schedule-0-next_run_0": timezone.localtime(schedule.next_run).strftime("%Y-%m-%d"),
        "schedule-0-next_run_1": timezone.localtime(schedule.next_run).strftime("%H:%M:%S"),
        "schedule-0-enabled": "on",
        "reminders-TOTAL_FORMS": "0",
        "reminders-INITIAL_FORMS": "0",
        "reminders-MIN_NUM_FORMS": "0",
        "reminders-MAX_NUM_FORMS": "1000",
    }

    response = _client(cast.owner).post(url, data)

    assert response.status_code == 302, response.content.decode()[:3000]
    schedule.refresh_from_db()
    assert (schedule.frequency, schedule.lead_minutes) == ("weekdays", 10)
    meeting = timezone.localtime(schedule.meeting_at)
    assert meeting.weekday() < 5 and meeting > timezone.now()
    assert meeting - timezone.now() <= dt.timedelta(days=3, minutes=10)
