"""The Celery application; configuration comes from Django settings (CELERY_* names)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")

app = Celery("sparkroom")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["tasks"], related_name=None, force=True)
app.conf.imports = [
    "tasks.collab",
    *[
        m
        for m in ("tasks.deep", "tasks.spark", "tasks.history", "tasks.repos", "tasks.git")
        if os.path.exists(m.replace(".", "/") + ".py")
    ],
]


@worker_init.connect
@worker_process_init.connect
def _mark_worker_process(**_: object) -> None:
    from workspace import broadcast

    broadcast.close_pools_after_send = True
