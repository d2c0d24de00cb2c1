from django.apps import AppConfig


class CollabConfig(AppConfig):
    name = "workspace.collab"
    label = "collab"
    verbose_name = "Collaborative documents"

    def ready(self) -> None:
        from workspace.collab import signals  # noqa: F401 - connects the receivers
