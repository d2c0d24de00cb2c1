from django.apps import AppConfig


class SparkConfig(AppConfig):
    name = "workspace.spark"
    label = "spark"
    verbose_name = "Spark mode (real-time AI edits)"

    def ready(self) -> None:
        from workspace.spark import handlers  # noqa: F401 - registers workspace-channel handlers
