"""The one settings module. Every value comes from the environment (see README, Configuration).

With nothing set, the portal runs on embedded defaults: SQLite and a filesystem Celery broker under
``var/``, with a SECRET_KEY and an encryption key generated there on first start (only when DEBUG is
on). With ``DATABASE_URL`` and ``CELERY_BROKER_URL`` set, the same code runs on PostgreSQL and
Redis or RabbitMQ.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from portal.env import database_from_url, env_bool, env_int, env_list, env_str, persistent_secret

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PORTAL_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY") or persistent_secret(VAR_DIR / "secret_key", generate=DEBUG, name="SECRET_KEY")

# Fernet keys for secrets at rest (bot secret keys). Several, comma-separated, newest first: the
# first encrypts, all decrypt, so a key can be rotated without a flag day.
ENCRYPTION_KEYS = env_list("PORTAL_ENCRYPTION_KEY") or [
    persistent_secret(
        VAR_DIR / "encryption_key",
        generate=DEBUG,
        name="PORTAL_ENCRYPTION_KEY",
        factory=lambda: Fernet.generate_key().decode(),
    )
]

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when DEBUG is off, e.g. ALLOWED_HOSTS=bots.example.com")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "bots",
    "bots.sandbox",
    "bots.api",
    "bots.integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "bots.audit.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env_str("LANGUAGE_CODE", "ru")
LANGUAGES = [("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "static")
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")

LOGIN_URL = "admin:login"

# Security: the deploy checklist (manage.py check --deploy) is clean when DEBUG is off.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("PORTAL_BEHIND_TLS_PROXY") else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = ["security.W021"] if not SECURE_HSTS_PRELOAD else []

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The REST API (bots/api/): its OpenAPI schema, per-token rate limits, body and export limits.
SPECTACULAR_SETTINGS = {
    "TITLE": "eXpress Bot Portal API",
    "DESCRIPTION": "Send messages and broadcasts through the portal's bots, follow their delivery, read the ledger.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
API_RATE_LIMIT = env_str("API_RATE_LIMIT", "600/min")
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_MB", 8) * 1024 * 1024
API_EXPORT_MAX_ROWS = env_int("API_EXPORT_MAX_ROWS", 100_000)
API_BROADCAST_MAX_RECIPIENTS = env_int("API_BROADCAST_MAX_RECIPIENTS", 10_000)
API_BROADCAST_BATCH = env_int("API_BROADCAST_BATCH", 200)
# Rate-limit counters: in each process's memory unless a shared cache is given (redis://host:6379/1).
_api_cache_url = env_str("API_THROTTLE_CACHE_URL")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "api": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _api_cache_url}
        if _api_cache_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api"}
    ),
}

# Celery: JSON only, late acknowledgement (a killed worker's task is run again; tasks are idempotent).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "control", "processed"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # The transport polls its folder; the default second would add up to a second per hop.
        "polling_interval": 0.1,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 4)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = TIME_ZONE

CELERY_TASK_ANNOTATIONS = {
    # A handler's run is bounded: past the soft limit it is interrupted, recorded and apologised for.
    "bots.inbound_process": {
        "soft_time_limit": env_int("HANDLER_TIME_LIMIT_SECONDS", 30),
        "time_limit": env_int("HANDLER_TIME_LIMIT_SECONDS", 30) + 15,
    },
    # A drain starts no event and no send past its budget: one handler's limit and one send's timeout
    # come on top of it.
    "bots.inbound_drain": {
        "soft_time_limit": env_int("HANDLER_TIME_LIMIT_SECONDS", 30)
        + env_int("INBOUND_DRAIN_SECONDS", 2)
        + env_int("BOTX_HTTP_TIMEOUT_SECONDS", 10)
        + 5,
        "time_limit": env_int("HANDLER_TIME_LIMIT_SECONDS", 30)
        + env_int("INBOUND_DRAIN_SECONDS", 2)
        + env_int("BOTX_HTTP_TIMEOUT_SECONDS", 10)
        + 20,
    },
}
CELERY_BEAT_SCHEDULE = {
    "sweep": {"task": "bots.sweep", "schedule": float(env_int("SWEEP_INTERVAL_SECONDS", 10))},
    "purge": {"task": "bots.purge", "schedule": 3600.0},
    # Conference reminders and recurring schedules that are due (rows in the database, claimed one by one).
    "integrations-conference-tick": {
        "task": "integrations.conference_tick",
        "schedule": float(env_int("CONFERENCE_TICK_SECONDS", 30)),
    },
    # Bridge calls whose task was lost, and old integration logs.
    "integrations-sweep": {"task": "integrations.sweep", "schedule": 60.0},
    # The API's messages and broadcasts whose time has come go to the outbox.
    "api-due": {"task": "api.due", "schedule": float(env_int("API_SCHEDULE_INTERVAL_SECONDS", 5))},
}

# Traffic.
BOTX_MAX_BODY_BYTES = env_int("BOTX_MAX_BODY_MB", 8) * 1024 * 1024
OUTBOX_RETRY_BASE_SECONDS = env_int("OUTBOX_RETRY_BASE_SECONDS", 1)
OUTBOX_RETRY_MAX_DELAY_SECONDS = env_int("OUTBOX_RETRY_MAX_DELAY_SECONDS", 300)
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 12)
OUTBOX_RETRY_BUDGET_SECONDS = env_int("OUTBOX_RETRY_BUDGET_SECONDS", 3600)
SWEEP_GRACE_SECONDS = env_int("SWEEP_GRACE_SECONDS", 30)
# Throughput: commands a worker claims per transaction, and how long one drain task runs before it
# hands the rest to a fresh one; how long the wake-up gate holds (bots/services/wake.py); how long a
# web process trusts its copy of a bot (bots/services/bot_cache.py).
INBOUND_DRAIN_BATCH = env_int("INBOUND_DRAIN_BATCH", 32)
INBOUND_DRAIN_SECONDS = env_int("INBOUND_DRAIN_SECONDS", 2)
WAKE_GATE_SECONDS = env_int("WAKE_GATE_SECONDS", 2)
BOTX_BOT_CACHE_SECONDS = env_int("BOTX_BOT_CACHE_SECONDS", 1)
LEDGER_ORPHAN_RETENTION_DAYS = env_int("LEDGER_ORPHAN_RETENTION_DAYS", 90)
HANDLER_APOLOGY = env_str("HANDLER_APOLOGY")
# The same bound, kept by the handler runner itself (Celery's soft limit needs the prefork pool).
HANDLER_TIME_LIMIT_SECONDS = env_int("HANDLER_TIME_LIMIT_SECONDS", 30)
# A file a handler sends travels base64 in its outbox row; larger ones are refused in the handler.
HANDLER_FILE_MAX_BYTES = env_int("HANDLER_FILE_MAX_MB", 16) * 1024 * 1024
# A synchronous Smart App request is answered within this (the client gives up after about 5 s).
SMARTAPP_TIME_LIMIT_SECONDS = env_int("SMARTAPP_TIME_LIMIT_SECONDS", 4)

# Built-in bots (bots/integrations/).
RECORDINGS_WEBHOOK_MAX_BYTES = env_int("RECORDINGS_WEBHOOK_MAX_KB", 256) * 1024
RECORDINGS_SIGNATURE_MAX_AGE_SECONDS = env_int("RECORDINGS_SIGNATURE_MAX_AGE_SECONDS", 300)
BRIDGE_ALLOW_PLAIN_HTTP = env_bool("BRIDGE_ALLOW_PLAIN_HTTP", False)
BRIDGE_RETRY_BASE_SECONDS = env_int("BRIDGE_RETRY_BASE_SECONDS", 2)
BRIDGE_RETRY_MAX_DELAY_SECONDS = env_int("BRIDGE_RETRY_MAX_DELAY_SECONDS", 60)
BRIDGE_MAX_RESPONSE_BYTES = env_int("BRIDGE_MAX_RESPONSE_KB", 256) * 1024
INTEGRATIONS_LOG_RETENTION_DAYS = env_int("INTEGRATIONS_LOG_RETENTION_DAYS", 30)

# Registry policy.
BOT_SECRET_ROTATION_GRACE_HOURS = env_int("BOT_SECRET_ROTATION_GRACE_HOURS", 24)
BOTX_HTTP_TIMEOUT_SECONDS = env_int("BOTX_HTTP_TIMEOUT_SECONDS", 10)
SMARTAPP_BUNDLE_MAX_BYTES = env_int("SMARTAPP_BUNDLE_MAX_MB", 50) * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs every request URL at INFO; the token endpoint's URL carries a signature.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
