"""HTTP routes. Feature apps with a `urls.py` are mounted under their own prefix."""

from __future__ import annotations

import importlib

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from workspace.api import api
from workspace.projects import views as project_views

urlpatterns = [
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
