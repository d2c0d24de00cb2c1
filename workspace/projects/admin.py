from django.contrib import admin

from workspace.projects.models import FileNode, Membership, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "created_by", "created_at")
    search_fields = ("name",)
    inlines = [MembershipInline]


@admin.register(FileNode)
class FileNodeAdmin(admin.ModelAdmin):
    list_display = ("path", "workspace", "is_folder", "updated_at")
    list_filter = ("is_folder",)
    search_fields = ("path",)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "workspace", "role", "joined_at")
    list_filter = ("role",)
