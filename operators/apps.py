from django.apps import AppConfig


class OperatorsConfig(AppConfig):
    name = "operators"

    def ready(self) -> None:
        # Registers the Celery task-failure counter in every process, workers included.
        import crm.metrics  # noqa: F401
        from operators import hooks

        hooks.register()
