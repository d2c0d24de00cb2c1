from django.contrib import admin

from workspace.realtime.models import Presence


@admin.register(Presence)
class PresenceAdmin(admin.ModelAdmin):
    list_display = ("user", "workspace", "file_id", "seen_at")
    list_filter = ("workspace",)
