from django.contrib import admin

from workspace.jobs.models import Job, JobEvent


class JobEventInline(admin.TabularInline):
    model = JobEvent
    extra = 0
    fields = ("seq", "kind", "message", "created_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "workspace", "user", "kind", "status", "progress", "tokens_in", "tokens_out", "created_at")
    list_filter = ("status", "kind")
    search_fields = ("prompt", "error")
    readonly_fields = ("heartbeat_at", "attempts", "result")
    inlines = [JobEventInline]
