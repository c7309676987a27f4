from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


def _holidays_changed(**kwargs: object) -> None:
    from adapters.sql.holidays import holidays_changed

    holidays_changed()


class CatalogConfig(AppConfig):
    name = "adapters.orm.catalog"
    label = "catalog"
    verbose_name = "Catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every process's holiday calendar reads the dates again after any change to them, whichever
        # path made it (API, admin, seeding): all go through the model. (QuerySet.update() and
        # bulk_create() would not: nothing uses them on holidays.)
        holiday = self.get_model("Holiday")
        post_save.connect(_holidays_changed, sender=holiday, dispatch_uid="catalog-holidays-saved")
        post_delete.connect(_holidays_changed, sender=holiday, dispatch_uid="catalog-holidays-deleted")
