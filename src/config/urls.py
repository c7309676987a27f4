from django.contrib import admin
from django.urls import path

from api.app import build_api
from api.metrics import metrics_view
from config.bootstrap import bootstrap

api = build_api(bootstrap())

urlpatterns = [
    path("api/v1/", api.urls),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
]
