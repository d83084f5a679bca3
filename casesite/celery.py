"""The Celery app. Settings come from Django's (CELERY_* names); tasks live beside their workflows
(cases/delivery/tasks.py, cases/sync/tasks.py, cases/actions/tasks.py)."""

import logging.config
import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casesite.settings")

app = Celery("casesite")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Tasks live beside the workflows they run; list each package that has a tasks module.
app.autodiscover_tasks(["cases.delivery", "cases.sync", "cases.actions", "cases.notify"])

if os.environ.get("LOG_FORMAT", "plain").strip().lower() == "json":

    @setup_logging.connect
    def use_django_logging(**kwargs) -> None:
        """With LOG_FORMAT=json, workers log through Django's LOGGING (one JSON object per line)
        instead of Celery's own plain format; otherwise Celery sets up logging as usual."""
        from django.conf import settings

        logging.config.dictConfig(settings.LOGGING)
