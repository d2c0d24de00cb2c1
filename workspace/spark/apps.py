from django.apps import AppConfig


class SparkConfig(AppConfig):
    name = "workspace.spark"
    label = "spark"
    verbose_name = "Spark mode (real-time AI edits)"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from workspace.projects.models import FileNode
        from workspace.spark import handlers  # noqa: F401 - registers workspace-channel handlers
        from workspace.spark.services import forget_file

        post_save.connect(forget_file, sender=FileNode, dispatch_uid="spark-forget-file-saved")
        post_delete.connect(forget_file, sender=FileNode, dispatch_uid="spark-forget-file-deleted")
