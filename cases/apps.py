from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CasesConfig(AppConfig):
    name = "cases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cases.fulltext import ensure_sqlite_triggers

        post_migrate.connect(ensure_sqlite_triggers, sender=self)
