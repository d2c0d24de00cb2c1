from django.contrib import admin

from workspace.teams.models import ChatMessage, Invitation


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("workspace", "role", "created_by", "expires_at", "used", "max_uses", "revoked")


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ("workspace", "user", "created_at", "text")
