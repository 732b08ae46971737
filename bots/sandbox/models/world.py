"""What the sandbox CTS knows: its users, chats, chat members, messages and files.

There is one sandbox world, shared by every sandbox CTS server: the same portal serves them all under
``/sandbox/``, so two CTS rows (say ``localhost`` and ``127.0.0.1``) are two names of one server.
Bots appear in chats by their ``bot_id``, which is also their user HUID, as in eXpress.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SandboxUser(models.Model):
    """A person on the sandbox CTS (what ``users/by_*`` find and what simulated users send as)."""

    class Kind(models.TextChoices):
        USER = "user", _("RTS user")
        CTS_USER = "cts_user", _("CTS user")
        UNREGISTERED = "unregistered", _("Unregistered")
        GUEST = "guest", _("Guest")

    huid = models.UUIDField(_("HUID"), unique=True, default=uuid.uuid4)
    name = models.CharField(_("name"), max_length=255)
    public_name = models.CharField(_("public name"), max_length=255, blank=True)
    ad_login = models.CharField(_("AD login"), max_length=255, blank=True)
    ad_domain = models.CharField(_("AD domain"), max_length=255, blank=True)
    emails = models.JSONField(_("e-mail addresses"), default=list, blank=True)
    other_id = models.CharField(_("other ID"), max_length=255, blank=True)
    user_kind = models.CharField(_("kind"), max_length=16, choices=Kind, default=Kind.CTS_USER)
    active = models.BooleanField(_("active"), default=True)
    company = models.CharField(_("company"), max_length=255, blank=True)
    company_position = models.CharField(_("position"), max_length=255, blank=True)
    department = models.CharField(_("department"), max_length=255, blank=True)
    office = models.CharField(_("office"), max_length=255, blank=True)
    manager = models.CharField(_("manager"), max_length=255, blank=True)
    description = models.TextField(_("description"), blank=True)
    ip_phone = models.CharField(_("IP phone"), max_length=64, blank=True)
    other_ip_phone = models.CharField(_("other IP phone"), max_length=64, blank=True)
    phone = models.CharField(_("phone"), max_length=64, blank=True)
    other_phone = models.CharField(_("other phone"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("sandbox user")
        verbose_name_plural = _("sandbox users")
        ordering = ["name"]
        indexes = [
            models.Index(fields=["ad_login", "ad_domain"], name="sandbox_user_login_idx"),
            models.Index(fields=["other_id"], name="sandbox_user_other_id_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class SandboxChat(models.Model):
    """A chat on the sandbox CTS: personal (``chat``), group chat or channel."""

    class Type(models.TextChoices):
        CHAT = "chat", _("Personal chat")
        GROUP_CHAT = "group_chat", _("Group chat")
        CHANNEL = "channel", _("Channel")

    group_chat_id = models.UUIDField(_("chat ID"), unique=True, default=uuid.uuid4)
    chat_type = models.CharField(_("type"), max_length=16, choices=Type, default=Type.GROUP_CHAT)
    name = models.CharField(_("name"), max_length=255)
    description = models.TextField(_("description"), blank=True)
    shared_history = models.BooleanField(_("shared history"), default=False)
    creator_huid = models.UUIDField(_("creator"), null=True, blank=True)
    stealth = models.BooleanField(_("stealth mode"), default=False)
    stealth_disable_web = models.BooleanField(_("stealth: hidden on the web"), default=False)
    stealth_burn_in = models.PositiveIntegerField(_("stealth: burn after reading, seconds"), null=True, blank=True)
    stealth_expire_in = models.PositiveIntegerField(_("stealth: burn for all, seconds"), null=True, blank=True)
    pinned_sync_id = models.UUIDField(_("pinned message"), null=True, blank=True)
    pinned_by_huid = models.UUIDField(_("pinned by"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("sandbox chat")
        verbose_name_plural = _("sandbox chats")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SandboxMember(models.Model):
    """A user or a bot in a sandbox chat."""

    class Kind(models.TextChoices):
        USER = "user", _("User")
        BOT = "botx", _("Bot")

    chat = models.ForeignKey(SandboxChat, models.CASCADE, related_name="members", verbose_name=_("chat"))
    huid = models.UUIDField(_("HUID or bot ID"))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind, default=Kind.USER)
    admin = models.BooleanField(_("admin"), default=False)
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now)

    class Meta:
        verbose_name = _("chat member")
        verbose_name_plural = _("chat members")
        ordering = ["joined_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["chat", "huid"], name="sandbox_member_unique")]
        indexes = [models.Index(fields=["huid"], name="sandbox_member_huid_idx")]

    def __str__(self) -> str:
        return str(self.huid)


class SandboxFile(models.Model):
    """A file in a sandbox chat: uploaded by a bot, attached to a bot's message, or sent by a user.

    The bytes live in the database so every web process and worker sees the same files.
    """

    file_id = models.UUIDField(_("file ID"), unique=True, default=uuid.uuid4)
    chat = models.ForeignKey(SandboxChat, models.CASCADE, related_name="files", verbose_name=_("chat"))
    file_name = models.CharField(_("file name"), max_length=255)
    mimetype = models.CharField(_("MIME type"), max_length=255, default="application/octet-stream")
    content = models.BinaryField(_("content"))
    size = models.PositiveBigIntegerField(_("size, bytes"), default=0)
    file_hash = models.CharField(_("hash"), max_length=64, help_text=_("Base64 of the SHA-256 of the content."))
    caption = models.TextField(_("caption"), blank=True)
    duration = models.PositiveIntegerField(_("duration, seconds"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("sandbox file")
        verbose_name_plural = _("sandbox files")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.file_name


class SandboxMessage(models.Model):
    """A message in a sandbox chat, from a bot (through the BotX API) or a simulated user.

    Times say its life: ``created_at``; ``edited_at`` once edited; ``deleted_at`` once deleted (the row
    stays, so its status can still be asked). ``sent_to`` is fixed when it is posted; ``received_by``
    and ``read_by`` grow as users see it (``services.messages.message_seen``).
    """

    class SenderKind(models.TextChoices):
        USER = "user", _("User")
        BOT = "botx", _("Bot")

    sync_id = models.UUIDField(_("sync ID"), unique=True, default=uuid.uuid4)
    chat = models.ForeignKey(SandboxChat, models.CASCADE, related_name="messages", verbose_name=_("chat"))
    sender_huid = models.UUIDField(_("sender HUID or bot ID"))
    sender_kind = models.CharField(_("sender kind"), max_length=8, choices=SenderKind, default=SenderKind.USER)
    body = models.TextField(_("text"), blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    opts = models.JSONField(_("options"), default=dict, blank=True)
    bubble = models.JSONField(_("inline buttons"), default=list, blank=True)
    keyboard = models.JSONField(_("keyboard buttons"), default=list, blank=True)
    mentions = models.JSONField(_("mentions"), default=list, blank=True)
    entities = models.JSONField(
        _("entities"), default=list, blank=True, help_text=_("Replies, forwards and mentions of a user's message.")
    )
    attachments = models.JSONField(_("attachments"), default=list, blank=True)
    file = models.ForeignKey(
        SandboxFile, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("file")
    )
    source_sync_id = models.UUIDField(_("reply to"), null=True, blank=True)
    recipients = models.JSONField(_("recipients"), null=True, blank=True, help_text=_("Empty means everyone."))
    sent_to = models.JSONField(_("sent to"), default=list, blank=True)
    received_by = models.JSONField(_("received by"), default=list, blank=True)
    read_by = models.JSONField(_("read by"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    edited_at = models.DateTimeField(_("edited at"), null=True, blank=True)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("sandbox message")
        verbose_name_plural = _("sandbox messages")
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["chat", "created_at"], name="sandbox_message_chat_idx")]

    def __str__(self) -> str:
        return str(self.sync_id)

    @property
    def is_edited(self) -> bool:
        return self.edited_at is not None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None
