"""Encryption of secrets at rest (Fernet, AES-128-CBC with HMAC-SHA256).

The keys come from ``settings.ENCRYPTION_KEYS``: the first encrypts, every key decrypts, so an
operator rotates by putting a new key first and re-saving (``manage.py bots reencrypt``).
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError:
        raise ImproperlyConfigured(
            "PORTAL_ENCRYPTION_KEY must be one or more comma-separated Fernet keys "
            "(32 url-safe base64-encoded bytes each)."
        ) from None


def _current() -> MultiFernet:
    return _fernet(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _decrypted(tuple(settings.ENCRYPTION_KEYS), ciphertext)
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with PORTAL_ENCRYPTION_KEY: was the key changed "
            "without keeping the old one in the list?"
        ) from None


@lru_cache(maxsize=1024)
def _decrypted(keys: tuple[str, ...], ciphertext: str) -> str:
    """Kept per process: a worker reads its bots' secrets afresh for every batch it runs, and a Fernet
    decryption (HMAC check, AES) costs more than the rest of reading the bot. Keyed by the portal's keys
    too, so a ciphertext that no longer decrypts under the current keys fails as it did."""
    return _fernet(keys).decrypt(ciphertext.encode()).decode()


def reencrypt(ciphertext: str) -> str:
    """The same secret under the newest key."""
    return _current().rotate(ciphertext.encode()).decode()


def last_four(secret: str) -> str:
    """What pages, commands and logs may show of a secret."""
    return secret[-4:] if len(secret) >= 8 else ""


def masked(last4: str) -> str:
    return f"••••{last4}" if last4 else "••••"
