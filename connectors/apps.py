from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = _("Messaging channels")

    def ready(self) -> None:
        from chats import channels, hooks
        from connectors import registry, services
        from connectors.api_channel import ApiChannelConnector
        from connectors.telegram import TelegramConnector
        from connectors.whatsapp import WhatsAppConnector

        # One line per provider: the connector registers itself with chats too.
        for connector in (TelegramConnector(), WhatsAppConnector(), ApiChannelConnector()):
            registry.register(connector)
            channels.register(connector)
        hooks.on_message_stored(services.message_hand_to_channel)
