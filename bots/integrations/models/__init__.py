from bots.integrations.models.bridge import BridgeAttempt, BridgeCall, BridgeEndpoint
from bots.integrations.models.conference import (
    Conference,
    ConferenceReminder,
    ConferenceSchedule,
    ConferenceSettings,
    ConferenceSubscription,
    Frequency,
)
from bots.integrations.models.recordings import RecordingContact, RecordingIntegration, WebhookRequest

__all__ = [
    "BridgeAttempt",
    "BridgeCall",
    "BridgeEndpoint",
    "Conference",
    "ConferenceReminder",
    "ConferenceSchedule",
    "ConferenceSettings",
    "ConferenceSubscription",
    "Frequency",
    "RecordingContact",
    "RecordingIntegration",
    "WebhookRequest",
]
