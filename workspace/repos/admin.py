from django.contrib import admin

from workspace.repos.models import ImportJob, Repository


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("id", "workspace", "user", "source", "name", "status", "files_done", "files_total", "created_at")
    list_filter = ("status", "source")
    search_fields = ("name", "error")
    exclude = ("deploy_key", "created_ids")  # a deploy key is never shown back
    readonly_fields = ("summary", "heartbeat_at", "attempts", "upload")


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = ("workspace", "remote_url", "branch", "head_commit", "shallow", "created_by", "created_at")
    exclude = ("deploy_key",)  # a deploy key is never shown back
    readonly_fields = ("head_commit",)
