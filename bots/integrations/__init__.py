"""Built-in bots that talk to other corporate systems: conference reminders, call recordings, a bridge.

Their handler modules live with the others in ``bots/handlers/`` (``conference``, ``recordings``,
``bridge``) and stay thin; what they store, send and schedule lives here, in its own app.
"""
