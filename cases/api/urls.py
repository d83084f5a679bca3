"""URLs of the API. Every view authenticates itself (JWT or session), so none needs the
site's sign-in redirect."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from cases.api import gateway, passthrough, proxy, read
from cases.kore.errors import error_json


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """Unknown API paths answer in the API's own (Kore's) error form, not an HTML page."""
    return HttpResponse(error_json(404, "No such API endpoint."), status=404, content_type="application/json")


KORE_PATH = "caseManagement/api/public/analytics/<str:stream_id>/"

urlpatterns = [
    path(
        KORE_PATH + "createCase", login_not_required(proxy.CreateCaseProxy.as_view()), name="api_create_case"
    ),
    path(
        KORE_PATH + "getCases", login_not_required(passthrough.GetCasesProxy.as_view()), name="api_get_cases"
    ),
    path(
        KORE_PATH + "updateCase/<str:case_id>",
        login_not_required(gateway.UpdateCaseProxy.as_view()),
        name="api_update_case",
    ),
    path(
        KORE_PATH + "createTask",
        login_not_required(gateway.CreateTaskProxy.as_view()),
        name="api_create_task",
    ),
    path(
        KORE_PATH + "getTasks", login_not_required(passthrough.GetTasksProxy.as_view()), name="api_get_tasks"
    ),
    path(
        KORE_PATH + "updateTask/<str:task_id>",
        login_not_required(gateway.UpdateTaskProxy.as_view()),
        name="api_update_task",
    ),
    path("api/v1/cases/", login_not_required(read.CaseListAPI.as_view()), name="api_case_list"),
    # Up to 18 digits: any id the database can hold; longer is a JSON 404 below, never an overflow.
    re_path(
        r"^api/v1/cases/(?P<pk>-?\d{1,18})/$",
        login_not_required(read.CaseDetailAPI.as_view()),
        name="api_case_detail",
    ),
    path("api/v1/streams/", login_not_required(read.StreamListAPI.as_view()), name="api_stream_list"),
    path("api/v1/templates/", login_not_required(read.TemplateListAPI.as_view()), name="api_template_list"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
    re_path(r"^api/", login_not_required(api_not_found)),
    re_path(r"^caseManagement/", login_not_required(api_not_found)),
]
