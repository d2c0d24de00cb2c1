from django.apps import AppConfig


class TerminalsConfig(AppConfig):
    name = "workspace.terminals"
    label = "terminals"
    verbose_name = "Shared terminals"
