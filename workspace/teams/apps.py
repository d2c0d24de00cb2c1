from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "workspace.teams"
    label = "teams"
    verbose_name = "Team pairing: invitations, members, chat, follow mode"

    def ready(self) -> None:
        from workspace.teams import handlers  # noqa: F401 - registers workspace-channel handlers
