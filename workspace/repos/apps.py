from django.apps import AppConfig


class ReposConfig(AppConfig):
    name = "workspace.repos"
    label = "repos"
    verbose_name = "Repositories: import, export, stored files"
