"""The BotX sandbox: a BotX-compatible server under ``/sandbox/`` for tests, benchmarks and demos.

A CtsServer whose base URL is ``http://<portal>/sandbox`` talks to it as to a real CTS: the same paths,
auth checks, bodies, status codes and error reasons as ``docs/botx-protocol.md`` describes, with its
own users, chats, messages and files, per-CTS fault injection, callbacks posted to the bots, and a
service that plays a user talking to a bot (``services.user_send.sandbox_user_send``).
"""
