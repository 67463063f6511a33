"""Writes of projects' own fields (name, description, emoji, color). A project's members are
its chat's participants: they change through ``chat_participant_add``/``_remove``."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from chats import error_codes, events
from chats.models import Chat, Project
from chats.services.chats import _clean_name, _require_staff
from chats.services.common import participant_ids_of
from crm.errors import NotFound, ValidationFailed

MAX_DESCRIPTION_LENGTH = 2000


@transaction.atomic
def project_update(
    *,
    actor: User,
    project_id: int,
    name: str | None = None,
    description: str | None = None,
    emoji: str | None = None,
    color: str | None = None,
) -> Project:
    """Staff of the organization change a project; its chat follows a new name."""
    _require_staff(actor)
    projects = Project.objects.select_for_update()
    if not actor.is_superuser:
        projects = projects.filter(organization_id=actor.organization_id)
    project = projects.filter(pk=project_id).first()
    if project is None:
        raise NotFound(_("No such project."), code=error_codes.PROJECT_NOT_FOUND)
    changed: list[str] = []
    if name is not None and _clean_name(name, required=True) != project.name:
        project.name = _clean_name(name, required=True)
        changed.append("name")
    for field, value, limit in (
        ("description", description, MAX_DESCRIPTION_LENGTH),
        ("emoji", emoji, 16),
        ("color", color, 16),
    ):
        if value is None:
            continue
        value = value.strip()
        if len(value) > limit:
            raise ValidationFailed(
                _("At most %(limit)s characters.") % {"limit": limit},
                code=f"invalid_{field}",
                fields={field: [_("Too long.")]},
            )
        if value != getattr(project, field):
            setattr(project, field, value)
            changed.append(field)
    if changed:
        project.save(update_fields=changed)
    chat = Chat.objects.filter(project=project).first()
    if chat is not None and "name" in changed:
        chat.name = project.name
        chat.save(update_fields=["name"])
        events.chat_updated(chat, participant_ids=participant_ids_of(chat))
    return project
