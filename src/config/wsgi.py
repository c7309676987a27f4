import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

from api.hot_reads import HotReadsFront  # noqa: E402 - after Django is set up
from config.memory import FreezeAfterWarmUp, freeze_loaded  # noqa: E402

# Cache hits of the hot reads are answered in front of Django's handler (api.hot_reads); what the
# worker loads is frozen out of full garbage collections once loaded (config.memory).
application = FreezeAfterWarmUp(HotReadsFront(django_application))
freeze_loaded()
