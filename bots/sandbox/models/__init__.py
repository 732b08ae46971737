from bots.sandbox.models.faults import SandboxFaults
from bots.sandbox.models.traffic import SandboxDelivery, SandboxSmartAppEvent, SandboxToken
from bots.sandbox.models.world import SandboxChat, SandboxFile, SandboxMember, SandboxMessage, SandboxUser

__all__ = [
    "SandboxChat",
    "SandboxDelivery",
    "SandboxFaults",
    "SandboxFile",
    "SandboxMember",
    "SandboxMessage",
    "SandboxSmartAppEvent",
    "SandboxToken",
    "SandboxUser",
]
