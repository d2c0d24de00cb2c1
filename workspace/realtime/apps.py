from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "workspace.realtime"
    label = "realtime"
    verbose_name = "Realtime workspace channel"

    def ready(self) -> None:
        from workspace.realtime import builtin_handlers  # noqa: F401 - registers handlers
