"""The Celery application. Workers: ``celery -A portal worker``."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fix-up closes every database connection around each task unless this (old-style)
# key is set; a new PostgreSQL connection per task costs more than the task itself. With it, a worker
# keeps its connection for this many tasks (Django's health checks still replace a broken one).
app.conf["CELERY_DB_REUSE_MAX"] = 1000
app.autodiscover_tasks()
