from django.contrib import admin

from workspace.collab.models import DocState, DocUpdate


@admin.register(DocState)
class DocStateAdmin(admin.ModelAdmin):
    list_display = ("file", "last_update_id", "compacted_at")
    readonly_fields = ("file", "last_update_id", "text", "compacted_at")
    exclude = ("snapshot",)


@admin.register(DocUpdate)
class DocUpdateAdmin(admin.ModelAdmin):
    list_display = ("id", "file", "created_at", "size")
    readonly_fields = ("file", "created_at")
    exclude = ("data",)

    @admin.display(description="bytes")
    def size(self, obj: DocUpdate) -> int:
        return len(obj.data)
