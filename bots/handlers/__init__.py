"""Handler code for the bots the portal hosts: the framework and one module per built-in bot."""
