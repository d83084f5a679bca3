"""Sign-in and sign-out under /accounts/ (included by casesite/urls.py)."""

from django.urls import path

from cases.sso import views

urlpatterns = [
    path("login/", views.PortalLoginView.as_view(), name="login"),
    path("logout/", views.sign_out, name="logout"),
    path("login/local/", views.BreakGlassLoginView.as_view(), name="login_local"),
    path("sso/start/", views.sso_start, name="sso_start"),
    path("sso/callback/", views.sso_callback, name="sso_callback"),
]
