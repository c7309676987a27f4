from django.apps import AppConfig


class BookgenConfig(AppConfig):
    """The data generator as a Django app of its own: it brings the commands `seed_data`, `check_book`
    and `load_demo`, and no models. Settings register it only where the `tools` package is installed."""

    name = "tools.bookgen"
    label = "bookgen"
    verbose_name = "Book generator (development and benchmark data)"
