from bots.models.access import BotRole, Capability, ChatRule, CommandRule, Role, Sender
from bots.models.audit import ChangeRecord
from bots.models.registry import Bot, CtsServer, SmartApp
from bots.models.state import BotState
from bots.models.traffic import CallbackReceipt, DeliveryAttempt, InboundEvent, MessageEvent, OutboundMessage, SendSlot

__all__ = [
    "Bot",
    "BotRole",
    "BotState",
    "CallbackReceipt",
    "Capability",
    "ChangeRecord",
    "ChatRule",
    "CommandRule",
    "CtsServer",
    "DeliveryAttempt",
    "InboundEvent",
    "MessageEvent",
    "OutboundMessage",
    "Role",
    "SendSlot",
    "Sender",
    "SmartApp",
]
