"""Hypothesis kept modest so the whole unit suite stays well under ten seconds."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "unit", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("unit")
