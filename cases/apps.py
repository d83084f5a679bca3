from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CasesConfig(AppConfig):
    name = "cases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cases import case_counts, fulltext

        post_migrate.connect(fulltext.ensure_sqlite_triggers, sender=self)
        post_migrate.connect(case_counts.ensure_sqlite_triggers, sender=self)

        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from cases.audit import user_changed, user_deleted

        post_save.connect(user_changed, sender=get_user_model(), dispatch_uid="audit-user-saved")
        post_delete.connect(user_deleted, sender=get_user_model(), dispatch_uid="audit-user-deleted")
