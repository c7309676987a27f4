from django.apps import AppConfig


class CreditsConfig(AppConfig):
    name = "adapters.orm.credits"
    label = "credits"
    default_auto_field = "django.db.models.BigAutoField"
