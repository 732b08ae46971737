"""Writes of the built-in bots: one module per bot, plus what they share (``common``)."""
