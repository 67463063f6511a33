"""Staff roles as Django groups.

Each staff role is a group of the same name; its permissions are listed here and applied after
every ``migrate`` so that models added later reach the roles too. A user's group follows their
role (``accounts.services``).
"""

from __future__ import annotations

from django.apps import apps as global_apps

from accounts.models import Role

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
ALL = (VIEW, ADD, CHANGE, DELETE)

# "app_label.model": actions. Models that do not exist (yet) are skipped.
_OPERATOR = {
    "accounts.user": (VIEW,),
    "chats.inbox": (VIEW,),
    "chats.chat": (VIEW, CHANGE),
    "chats.message": (VIEW, ADD),
    "chats.membership": (VIEW,),
    "chats.project": (VIEW,),
    "chats.channelidentity": (VIEW,),
    "orders.order": (VIEW, ADD),
    "orders.orderitem": (VIEW, ADD),
    "orders.orderevent": (VIEW,),
    "media.mediafile": (VIEW, ADD),
    "operators.operatorprofile": (VIEW,),
    "operators.cannedresponse": (VIEW,),
}
_SENIOR_OPERATOR = {
    **_OPERATOR,
    "chats.project": (VIEW, ADD, CHANGE),
    "orders.order": (VIEW, ADD, CHANGE),
    "orders.orderitem": (VIEW, ADD, CHANGE, DELETE),
    "operators.operatorprofile": (VIEW, CHANGE),
    "operators.auditevent": (VIEW,),
}
_ADMIN = {
    **_SENIOR_OPERATOR,
    "accounts.user": (VIEW, ADD, CHANGE),
    "accounts.organization": (VIEW,),
    "chats.inbox": ALL,
    "chats.chat": ALL,
    "chats.message": (VIEW, ADD, CHANGE),
    "chats.membership": ALL,
    "chats.project": ALL,
    "orders.order": ALL,
    "orders.orderevent": (VIEW,),
    "media.mediafile": (VIEW, ADD, CHANGE, DELETE),
    "operators.operatorprofile": ALL,
    "operators.cannedresponse": ALL,
}

ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    Role.OPERATOR: _OPERATOR,
    Role.SENIOR_OPERATOR: _SENIOR_OPERATOR,
    Role.ADMIN: _ADMIN,
}


def sync_role_groups(apps=global_apps) -> None:
    """Create the role groups and set their permissions to exactly ``ROLE_PERMISSIONS``."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, grants in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for model_key, actions in grants.items():
            app_label, model = model_key.split(".")
            codenames = [f"{action}_{model}" for action in actions]
            wanted.extend(
                Permission.objects.filter(
                    content_type__app_label=app_label, codename__in=codenames
                ).values_list("pk", flat=True)
            )
        group.permissions.set(wanted)


def sync_role_groups_after_migrate(sender, using="default", **kwargs) -> None:
    from django.contrib.auth.management import create_permissions

    # post_migrate runs app by app; make sure every app's permissions exist before granting
    # them. After migrate the schema is current, so the real models are safe to use.
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    sync_role_groups(global_apps)
