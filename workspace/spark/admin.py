from django.contrib import admin

from workspace.spark.models import SparkRequest


@admin.register(SparkRequest)
class SparkRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "workspace", "file", "user", "mode", "model", "status", "ttft_ms", "tokens", "created_at")
    list_filter = ("status", "mode")
    readonly_fields = [f.name for f in SparkRequest._meta.fields]
