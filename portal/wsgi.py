from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

django_application = get_wsgi_application()

# The Bot API's hot endpoints skip Django's request cycle (bots/views/botx_wsgi.py); the rest is Django.
from bots.views.botx_wsgi import FastBotApi  # noqa: E402  (needs the settings configured above)

application = FastBotApi(django_application)
