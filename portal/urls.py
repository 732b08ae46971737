from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from bots.views import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", health.healthz, name="healthz"),
]
