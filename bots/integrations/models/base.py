"""What the integration models share: a secret kept encrypted at rest, shown as its last four characters."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from bots import crypto

_SECRET_RE = re.compile(r"\S{16,256}")


def validate_shared_secret(value: str) -> None:
    # Longer than a bot key's minimum: this one signs requests that anyone on the network may forge.
    if not isinstance(value, str) or not _SECRET_RE.fullmatch(value):
        raise ValidationError(_("A shared secret is 16 to 256 characters without spaces."), code="bad_secret")


class WithSecret(models.Model):
    """A shared secret for HMAC signatures, encrypted like a bot's secret key (``bots.crypto``)."""

    secret_ciphertext = models.TextField(editable=False)
    secret_last4 = models.CharField(_("secret"), max_length=4, editable=False, blank=True)

    class Meta:
        abstract = True

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_ciphertext)

    @secret.setter
    def secret(self, value: str) -> None:
        validate_shared_secret(value)
        self.secret_ciphertext = crypto.encrypt(value)
        self.secret_last4 = crypto.last_four(value)

    @property
    def secret_masked(self) -> str:
        return crypto.masked(self.secret_last4)
