from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_in, user_logged_out
        from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save

        from cases.api.config_cache import configuration_changed
        from cases.browse import kept_counts, word_index
        from cases.models import ApiClient, CaseTemplate, Stream, TaskTemplate
        from cases.people.audit import user_changed, user_deleted
        from cases.people.roles import sync_role_groups
        from cases.people.sessions import forget_sign_out, remember_sign_in
        from cases.sso import config as sso_config  # noqa: F401 - registers the OIDC_ROLE_MAP check

        post_migrate.connect(word_index.ensure_sqlite_triggers, sender=self)
        post_migrate.connect(kept_counts.ensure_sqlite_triggers, sender=self)
        # Connected after Django's own handler, which creates this app's permissions first.
        post_migrate.connect(sync_role_groups, sender=self, dispatch_uid="sync-role-groups")

        user = get_user_model()
        post_save.connect(user_changed, sender=user, dispatch_uid="audit-user-saved")
        post_delete.connect(user_deleted, sender=user, dispatch_uid="audit-user-deleted")
        user_logged_in.connect(remember_sign_in, dispatch_uid="remember-sign-in")
        # The API proxy keeps clients, streams and templates per process until one changes.
        for model in (Stream, CaseTemplate, TaskTemplate, ApiClient):
            post_save.connect(
                configuration_changed, sender=model, dispatch_uid=f"proxy-config-{model.__name__}"
            )
            post_delete.connect(
                configuration_changed, sender=model, dispatch_uid=f"proxy-config-del-{model.__name__}"
            )
        m2m_changed.connect(
            configuration_changed, sender=ApiClient.streams.through, dispatch_uid="proxy-config-m2m"
        )
        user_logged_out.connect(forget_sign_out, dispatch_uid="forget-sign-out")
