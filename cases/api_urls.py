"""URLs of the API. Every view authenticates itself (JWT or session), so none needs the
site's sign-in redirect."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cases import api

urlpatterns = [
    path(
        "caseManagement/api/public/analytics/<str:stream_id>/createCase",
        login_not_required(api.CreateCaseProxy.as_view()),
        name="api_create_case",
    ),
    path("api/v1/cases/", login_not_required(api.CaseListAPI.as_view()), name="api_case_list"),
    path("api/v1/cases/<int:pk>/", login_not_required(api.CaseDetailAPI.as_view()), name="api_case_detail"),
    path("api/v1/streams/", login_not_required(api.StreamListAPI.as_view()), name="api_stream_list"),
    path("api/v1/templates/", login_not_required(api.TemplateListAPI.as_view()), name="api_template_list"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
]
