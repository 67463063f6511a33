from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = _("Inbox automation")

    def ready(self) -> None:
        from automation.services import automation_on_message_stored
        from chats import hooks

        hooks.on_message_stored(automation_on_message_stored, answers=True)
