from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from adapters.orm.identity.models import RefreshTokenRecord, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "role", "is_active", "date_joined")
    list_filter = ("role", "is_active", "is_staff")
    search_fields = ("username", "email", "first_name", "last_name", "document_id", "public_id")
    readonly_fields = ("public_id",)
    raw_id_fields = ("onboarded_by",)
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        ("Role and identity", {"fields": ("role", "public_id", "phone", "document_id", "onboarded_by")}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Role", {"fields": ("role",)}),
    )


@admin.register(RefreshTokenRecord)
class RefreshTokenAdmin(admin.ModelAdmin):
    """Sessions are read-only: revoking is done by logout or by reuse detection."""

    list_display = ("user", "family_id", "issued_at", "expires_at", "used_at", "revoked_at")
    list_filter = ("revoked_at",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    search_fields = ("user__username", "family_id")

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
