from django.apps import AppConfig


class CollabConfig(AppConfig):
    name = "workspace.collab"
    label = "collab"
    verbose_name = "Collaborative documents"
