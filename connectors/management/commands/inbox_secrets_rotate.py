from django.core.management.base import BaseCommand

from chats.services.inboxes import inbox_secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every inbox secret with the first key of FIELD_ENCRYPTION_KEY (after putting "
        "a new key first); the old keys can be dropped afterwards."
    )

    def handle(self, *args, **options):
        count = inbox_secrets_reencrypt()
        self.stdout.write(f"Re-encrypted the secrets of {count} inboxes.")
