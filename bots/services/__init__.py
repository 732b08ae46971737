"""Writes. Each service is a typed function with keyword-only arguments that owns its transaction."""
