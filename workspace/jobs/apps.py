from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "workspace.jobs"
    label = "jobs"
    verbose_name = "Deep-mode jobs"

    def ready(self) -> None:
        from workspace.jobs import handlers  # noqa: F401 - registers workspace-channel handlers
