from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from cases.sso import views as sso_views
from cases.web import (
    api_clients,
    audit,
    browsing,
    cases,
    configuration,
    deliveries,
    health,
    notifications,
    sync,
    users,
    webhooks,
)

urlpatterns = [
    path("", browsing.dashboard, name="home"),
    # Sign-in and sign-out, single sign-on included (cases/sso/).
    path("accounts/", include("cases.sso.urls")),
    path("account/", users.account, name="account"),
    path("account/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("account/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path(
        "account/sign-out-everywhere/",
        users.account_sign_out_everywhere,
        name="account_sign_out_everywhere",
    ),
    path("account/notifications/", notifications.account_notifications, name="account_notifications"),
    path("notifications/", notifications.notification_list, name="notifications"),
    path("notifications/count/", notifications.notification_count, name="notification_count"),
    path("cases/", browsing.case_list, name="case_list"),
    path("cases/export.csv", browsing.export_csv, name="case_export_csv"),
    path("cases/export.jsonl", browsing.export_jsonl, name="case_export_jsonl"),
    path("views/", browsing.saved_view_list, name="saved_view_list"),
    path("views/new/", browsing.saved_view_new, name="saved_view_new"),
    path("views/<int:view_id>/edit/", browsing.saved_view_edit, name="saved_view_edit"),
    path("views/<int:view_id>/delete/", browsing.saved_view_delete, name="saved_view_delete"),
    path("cases/new/", cases.case_new, name="case_new"),
    path("cases/<int:case_id>/", cases.case_detail, name="case_detail"),
    path("cases/<int:case_id>/retry/", cases.case_retry, name="case_retry"),
    path("cases/<int:case_id>/cancel/", cases.case_cancel, name="case_cancel"),
    path("cases/<int:case_id>/adopt/", cases.case_adopt, name="case_adopt"),
    path("cases/<int:case_id>/refresh/", sync.case_refresh_view, name="case_refresh"),
    path("cases/<int:case_id>/follow/", notifications.case_follow, name="case_follow"),
    path("sync/", sync.sync_overview, name="sync_overview"),
    path("sync/<int:state_id>/settings/", sync.sync_settings, name="sync_settings"),
    path("sync/<int:state_id>/now/", sync.sync_now, name="sync_now"),
    path("sync/<int:state_id>/full-read/", sync.sync_full_read, name="sync_full_read"),
    path("cases/import/", deliveries.import_new, name="import_new"),
    path("cases/import/example.csv", deliveries.import_example, name="import_example"),
    path("imports/<int:batch_id>/", deliveries.import_detail, name="import_detail"),
    path("deliveries/", deliveries.deliveries, name="deliveries"),
    path("deliveries/retry/", deliveries.deliveries_retry, name="deliveries_retry"),
    path("streams/", configuration.stream_list, name="stream_list"),
    path("streams/new/", configuration.stream_new, name="stream_new"),
    path("streams/<int:stream_id>/edit/", configuration.stream_edit, name="stream_edit"),
    path("streams/<int:stream_id>/check/", configuration.stream_check, name="stream_check"),
    path("streams/<int:stream_id>/toggle/", configuration.stream_toggle, name="stream_toggle"),
    path("templates/", configuration.template_list, name="template_list"),
    path("templates/new/", configuration.template_new, name="template_new"),
    path("templates/<int:template_id>/edit/", configuration.template_edit, name="template_edit"),
    path("api-clients/", api_clients.api_client_list, name="api_client_list"),
    path("api-clients/new/", api_clients.api_client_new, name="api_client_new"),
    path("api-clients/<int:client_id>/edit/", api_clients.api_client_edit, name="api_client_edit"),
    path(
        "api-clients/<int:client_id>/new-secret/",
        api_clients.api_client_new_secret,
        name="api_client_new_secret",
    ),
    path("webhooks/", webhooks.webhook_list, name="webhook_list"),
    path("webhooks/new/", webhooks.webhook_new, name="webhook_new"),
    path("webhooks/<int:endpoint_id>/edit/", webhooks.webhook_edit, name="webhook_edit"),
    path("webhooks/<int:endpoint_id>/new-secret/", webhooks.webhook_new_secret, name="webhook_new_secret"),
    path("webhooks/<int:endpoint_id>/switch/", webhooks.webhook_switch, name="webhook_switch"),
    path("webhooks/<int:endpoint_id>/log/", webhooks.webhook_log, name="webhook_log"),
    path(
        "webhooks/<int:endpoint_id>/log/<int:message_id>/send-again/",
        webhooks.webhook_send_again,
        name="webhook_send_again",
    ),
    path("users/", users.user_list, name="user_list"),
    path("users/new/", users.user_new, name="user_new"),
    path("users/<int:user_id>/edit/", users.user_edit, name="user_edit"),
    path(
        "users/<int:user_id>/sign-out-everywhere/",
        users.user_sign_out_everywhere,
        name="user_sign_out_everywhere",
    ),
    path("audit/", audit.audit_list, name="audit_list"),
    path("admin/login/", sso_views.admin_sign_in),  # under OIDC_ONLY, the break-glass form
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("cases.api.urls")),
]

if settings.KORE_SIMULATOR_ENABLED:
    urlpatterns.append(path("simulator/", include("cases.kore.simulator.views")))
