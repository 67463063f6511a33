from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Messaging channels"

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
