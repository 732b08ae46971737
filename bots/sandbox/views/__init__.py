"""The sandbox's BotX API endpoints: each view authenticates (``base.botx_endpoint``), parses with
``protocol``, calls one service and shapes the answer with ``render``."""
