from django.apps import AppConfig


class HistoryConfig(AppConfig):
    name = "workspace.history"
    label = "history"
    verbose_name = "Task history dashboard"
