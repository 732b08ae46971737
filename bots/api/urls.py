"""The REST API under /api/v1/ (portal/urls.py), with its OpenAPI schema and docs pages."""

from __future__ import annotations

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from bots.api import views

app_name = "api"

urlpatterns = [
    path("bots/", views.BotList.as_view(), name="bots"),
    path("messages/", views.MessageSend.as_view(), name="message-send"),
    path("messages/<int:pk>/", views.MessageDetail.as_view(), name="message"),
    path("scheduled/<int:pk>/", views.ScheduledDetail.as_view(), name="scheduled"),
    path("broadcasts/", views.BroadcastCreate.as_view(), name="broadcast-create"),
    path("broadcasts/<int:pk>/", views.BroadcastDetail.as_view(), name="broadcast"),
    path("broadcasts/<int:pk>/cancel/", views.BroadcastCancel.as_view(), name="broadcast-cancel"),
    path("broadcasts/<int:pk>/recipients/", views.BroadcastRecipients.as_view(), name="broadcast-recipients"),
    path("ledger/inbound/", views.InboundList.as_view(), name="ledger-inbound"),
    path("ledger/inbound/export/", views.InboundExport.as_view(), name="ledger-inbound-export"),
    path("ledger/outbound/", views.OutboundList.as_view(), name="ledger-outbound"),
    path("ledger/outbound/export/", views.OutboundExport.as_view(), name="ledger-outbound-export"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    # Anything else under the API answers in the API's format, not with an HTML page.
    re_path(r"^.*$", views.not_found),
]
