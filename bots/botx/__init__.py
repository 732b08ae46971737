"""The BotX wire format and the one HTTP client that talks to BotX.

This package is the only place that knows BotX JSON keys, paths and auth schemes, and the only one that
may import pybotx. It has no ORM access and reads no Django settings: callers pass in what it needs.
"""
