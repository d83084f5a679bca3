from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from cases import api_client_views, audit_views, browse_views, delivery_views, health, user_views, views
from cases.sso import views as sso_views

urlpatterns = [
    path("", browse_views.dashboard, name="home"),
    # Sign-in and sign-out, single sign-on included (cases/sso/).
    path("accounts/", include("cases.sso.urls")),
    path("account/", user_views.account, name="account"),
    path("account/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("account/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path(
        "account/sign-out-everywhere/",
        user_views.account_sign_out_everywhere,
        name="account_sign_out_everywhere",
    ),
    path("cases/", browse_views.case_list, name="case_list"),
    path("cases/export.csv", browse_views.export_csv, name="case_export_csv"),
    path("cases/export.jsonl", browse_views.export_jsonl, name="case_export_jsonl"),
    path("views/", browse_views.saved_view_list, name="saved_view_list"),
    path("views/new/", browse_views.saved_view_new, name="saved_view_new"),
    path("views/<int:view_id>/edit/", browse_views.saved_view_edit, name="saved_view_edit"),
    path("views/<int:view_id>/delete/", browse_views.saved_view_delete, name="saved_view_delete"),
    path("cases/new/", views.case_new, name="case_new"),
    path("cases/<int:case_id>/", views.case_detail, name="case_detail"),
    path("cases/<int:case_id>/retry/", views.case_retry, name="case_retry"),
    path("cases/<int:case_id>/cancel/", views.case_cancel, name="case_cancel"),
    path("cases/<int:case_id>/adopt/", views.case_adopt, name="case_adopt"),
    path("cases/import/", delivery_views.import_new, name="import_new"),
    path("cases/import/example.csv", delivery_views.import_example, name="import_example"),
    path("imports/<int:batch_id>/", delivery_views.import_detail, name="import_detail"),
    path("deliveries/", delivery_views.deliveries, name="deliveries"),
    path("deliveries/retry/", delivery_views.deliveries_retry, name="deliveries_retry"),
    path("streams/", views.stream_list, name="stream_list"),
    path("streams/new/", views.stream_new, name="stream_new"),
    path("streams/<int:stream_id>/edit/", views.stream_edit, name="stream_edit"),
    path("streams/<int:stream_id>/check/", views.stream_check, name="stream_check"),
    path("streams/<int:stream_id>/toggle/", views.stream_toggle, name="stream_toggle"),
    path("templates/", views.template_list, name="template_list"),
    path("templates/new/", views.template_new, name="template_new"),
    path("templates/<int:template_id>/edit/", views.template_edit, name="template_edit"),
    path("api-clients/", api_client_views.api_client_list, name="api_client_list"),
    path("api-clients/new/", api_client_views.api_client_new, name="api_client_new"),
    path("api-clients/<int:client_id>/edit/", api_client_views.api_client_edit, name="api_client_edit"),
    path(
        "api-clients/<int:client_id>/new-secret/",
        api_client_views.api_client_new_secret,
        name="api_client_new_secret",
    ),
    path("users/", user_views.user_list, name="user_list"),
    path("users/new/", user_views.user_new, name="user_new"),
    path("users/<int:user_id>/edit/", user_views.user_edit, name="user_edit"),
    path(
        "users/<int:user_id>/sign-out-everywhere/",
        user_views.user_sign_out_everywhere,
        name="user_sign_out_everywhere",
    ),
    path("audit/", audit_views.audit_list, name="audit_list"),
    path("admin/login/", sso_views.admin_sign_in),  # under OIDC_ONLY, the break-glass form
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("cases.api_urls")),
]

if settings.KORE_SIMULATOR_ENABLED:
    urlpatterns.append(path("simulator/", include("cases.kore.simulator.views")))
