from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from accounts.roles import sync_role_groups_after_migrate

        # Role groups get the permissions listed in accounts.roles after every migrate, so a new
        # model's permissions reach the roles without a hand-written data migration each time.
        post_migrate.connect(sync_role_groups_after_migrate, sender=self)

        from crm.i18n import model_labels_translate

        # Every app is loaded by now (ready() runs after all models are imported).
        model_labels_translate()
