"""HTTP routes. Feature apps with a `urls.py` are mounted under their own prefix."""

from __future__ import annotations

import importlib

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from workspace.accounts import admin_site
from workspace.api import api
from workspace.projects import views as project_views

# The admin is Django's (staff only), with its login and its password change under the login throttle.
admin_site.throttle_admin_site(admin.site)

urlpatterns = [
    path("admin/password_change/", admin.site.admin_view(admin_site.password_change)),
    path("admin/", admin.site.urls),
    path("accounts/", include("workspace.accounts.urls")),
    path("api/", api.urls),
    path("", project_views.home, name="home"),
    path("w/<int:workspace_id>/", project_views.editor, name="editor"),
]

# workspace.spark -> /spark/, workspace.jobs -> /jobs/, ...
for app in settings.INSTALLED_APPS:
    if app.startswith("workspace.") and app.split(".")[1] not in ("accounts", "projects", "collab", "realtime"):
        try:
            importlib.import_module(f"{app}.urls")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app}.urls":
                raise
            continue
        urlpatterns.append(path(f"{app.split('.')[1]}/", include(f"{app}.urls")))
