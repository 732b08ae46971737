from bots.models.access import BotRole, Capability, ChatRule, CommandRule, Role, Sender
from bots.models.audit import ChangeRecord
from bots.models.registry import Bot, CtsServer, SmartApp

__all__ = [
    "Bot",
    "BotRole",
    "Capability",
    "ChangeRecord",
    "ChatRule",
    "CommandRule",
    "CtsServer",
    "Role",
    "Sender",
    "SmartApp",
]
