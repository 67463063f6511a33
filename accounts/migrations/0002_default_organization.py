from django.conf import settings
from django.db import migrations


def create_default_organization(apps, schema_editor):
    Organization = apps.get_model("accounts", "Organization")
    slug = settings.DEFAULT_ORGANIZATION
    Organization.objects.get_or_create(slug=slug, defaults={"name": slug.replace("-", " ").title()})


def create_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for role in ("admin", "senior_operator", "operator"):
        Group.objects.get_or_create(name=role)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(create_default_organization, migrations.RunPython.noop),
        migrations.RunPython(create_role_groups, migrations.RunPython.noop),
    ]
