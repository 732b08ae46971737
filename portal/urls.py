from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from bots.views import botx, health

# The Bot API: BotX appends these to the bot's URL (per bot, or the shared /botx/).
_bot_api = [
    path("command", botx.command),
    path("status", botx.status),
    path("notification/callback", botx.notification_callback),
    path("smartapps/request", botx.smartapp_request),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", health.healthz, name="healthz"),
    path("sandbox/", include("bots.sandbox.urls")),
    path("api/v1/", include("bots.api.urls")),
    path("integrations/", include("bots.integrations.urls")),
    path("botx/<uuid:bot_id>/", include(_bot_api)),
    path("botx/<uuid:bot_id>/smartapp_files/static/<path:path>", botx.smartapp_static),
    path("botx/", include(_bot_api)),
]
