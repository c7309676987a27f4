from django.contrib import admin

from adapters.orm.idempotency.models import IdempotencyRecord
from adapters.orm.readonly_admin import ReadOnlyAdmin


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user_id", "key", "status_code")
    list_filter = ("status_code",)
    search_fields = ("key", "user_id")
    date_hierarchy = "created_at"
