"""A pytest plugin loaded before Django is set up (``-p tests.environment`` in pyproject.toml).

Tests run with DEBUG on in the environment so that settings can generate the keys they need under
var/; Django's test runner still runs the code under test with DEBUG off.
"""

import os

os.environ.setdefault("DEBUG", "true")
