from __future__ import annotations

from django.urls import path

from bots.integrations import views

app_name = "integrations"

urlpatterns = [
    path("recordings/<str:integration>/", views.recordings_webhook, name="recordings_webhook"),
]
