from django.contrib import admin
from django.urls import path

from adapters.orm.book_admin import clients_view, portfolio_view
from api.app import MOUNT, build_api, served_urls
from api.http.metrics import metrics_view
from config.bootstrap import bootstrap

api = build_api(bootstrap())

# The admin's book pages (Clients, Portfolio), linked from its index; mounted before the admin's
# own URLs, whose catch-all would answer them.
admin.site.index_template = "admin/book/index.html"

urlpatterns = [
    path(MOUNT, served_urls(api)),
    path("metrics", metrics_view, name="metrics"),
    path("admin/clients/", admin.site.admin_view(clients_view), name="admin_book_clients"),
    path("admin/portfolio/", admin.site.admin_view(portfolio_view), name="admin_book_portfolio"),
    path("admin/", admin.site.urls),
]
