from django.apps import AppConfig


class CompatConfig(AppConfig):
    """The REST paths of the backends Connector CRM replaces, as aliases of its own API."""

    name = "compat"
    verbose_name = "Seed clients' REST paths"
