"""Report and merge imported crops stored twice, before 0003 makes a crop's content_sha256 unique."""
from django.db import migrations


def merge(apps, schema_editor):
    from webapp.core.integrity import crop_duplicates_merge

    crop_duplicates_merge(apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ("faces", "0001_initial"),
        # every model that references a face, so the merge finds and moves their rows
        ("exports", "0001_initial"),
        ("review", "0002_item_closed_by_operation"),
        ("tagging", "0001_initial"),
        ("training", "0001_initial"),
    ]

    operations = [migrations.RunPython(merge, migrations.RunPython.noop, elidable=False)]
