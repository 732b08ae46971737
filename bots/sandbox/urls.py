"""The sandbox's BotX API, mounted at ``/sandbox/``: the paths of docs/botx-protocol.md Appendix C."""

from __future__ import annotations

from django.urls import path, re_path

from bots.sandbox.views import (
    chats,
    events,
    fallback,
    files,
    notifications,
    simulator,
    simulator_smartapp,
    smartapps,
    stickers,
    token,
    users,
)

app_name = "sandbox"

urlpatterns = [
    path("api/v2/botx/bots/<uuid:bot_id>/token", token.token, name="token"),
    # Notifications
    path("api/v4/botx/notifications/direct", notifications.direct, name="notification_direct"),
    path("api/v4/botx/notifications/direct/sync", notifications.direct_sync, name="notification_direct_sync"),
    path("api/v4/botx/notifications/internal", notifications.internal, name="notification_internal"),
    # Events
    path("api/v3/botx/events/edit_event", events.edit_event, name="edit_event"),
    path("api/v3/botx/events/reply_event", events.reply_event, name="reply_event"),
    path("api/v3/botx/events/delete_event", events.delete_event, name="delete_event"),
    path("api/v3/botx/events/typing", events.typing, name="typing"),
    path("api/v3/botx/events/stop_typing", events.stop_typing, name="stop_typing"),
    path("api/v3/botx/events/<str:sync_id>/status", events.status, name="event_status"),
    # Chats
    path("api/v3/botx/chats/list", chats.chat_list, name="chat_list"),
    path("api/v3/botx/chats/info", chats.info, name="chat_info"),
    path("api/v3/botx/chats/create", chats.create, name="chat_create"),
    path("api/v3/botx/chats/add_user", chats.add_user, name="chat_add_user"),
    path("api/v3/botx/chats/remove_user", chats.remove_user, name="chat_remove_user"),
    path("api/v3/botx/chats/add_admin", chats.add_admin, name="chat_add_admin"),
    path("api/v3/botx/chats/stealth_set", chats.stealth_set, name="chat_stealth_set"),
    path("api/v3/botx/chats/stealth_disable", chats.stealth_disable, name="chat_stealth_disable"),
    path("api/v3/botx/chats/pin_message", chats.pin_message, name="chat_pin_message"),
    path("api/v3/botx/chats/unpin_message", chats.unpin_message, name="chat_unpin_message"),
    path("api/v1/botx/chats/personal", chats.personal, name="chat_personal"),
    # Users
    path("api/v3/botx/users/by_huid", users.by_huid, name="user_by_huid"),
    path("api/v3/botx/users/by_email", users.by_email, name="user_by_email"),
    path("api/v3/botx/users/by_login", users.by_login, name="user_by_login"),
    path("api/v3/botx/users/by_other_id", users.by_other_id, name="user_by_other_id"),
    path("api/v3/botx/users/users_as_csv", users.users_as_csv, name="users_as_csv"),
    # Files
    path("api/v3/botx/files/upload", files.upload, name="file_upload"),
    path("api/v3/botx/files/download", files.download, name="file_download"),
    # Smart Apps
    path("api/v3/botx/smartapps/event", smartapps.event, name="smartapp_event"),
    path("api/v4/botx/smartapps/notification", smartapps.notification, name="smartapp_notification"),
    path("api/v4/botx/smartapps/unread_counter", smartapps.unread_counter, name="smartapp_unread_counter"),
    # Stickers
    path("api/v3/botx/stickers/packs", stickers.packs, name="sticker_packs"),
    # The chat simulator (pages for portal staff, not BotX methods)
    path("simulator/", simulator.simulator, name="simulator"),
    path("simulator/feed", simulator.feed, name="simulator_feed"),
    path("simulator/traffic", simulator.traffic, name="simulator_traffic"),
    path("simulator/send", simulator.send, name="simulator_send"),
    path("simulator/press", simulator.press, name="simulator_press"),
    path("simulator/event", simulator.system_event, name="simulator_event"),
    path("simulator/personal", simulator.personal_chat, name="simulator_personal"),
    path("simulator/file/<uuid:sync_id>", simulator.message_file, name="simulator_file"),
    path("simulator/smartapp/call", simulator_smartapp.call, name="simulator_smartapp_call"),
    path("simulator/smartapp/events", simulator_smartapp.events, name="simulator_smartapp_events"),
    path(
        "simulator/smartapp/<int:bot_pk>/static/<path:path>",
        simulator_smartapp.static,
        name="simulator_smartapp_static",
    ),
    re_path(r"^(?P<path>.*)$", fallback.not_found, name="not_found"),
]
