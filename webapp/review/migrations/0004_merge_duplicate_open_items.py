"""Report and merge open review items of one face in one queue, before 0005 allows only one."""
from django.db import migrations


def merge(apps, schema_editor):
    from webapp.core.integrity import open_item_duplicates_merge

    open_item_duplicates_merge(apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ("review", "0003_queue_sent_by_hand"),
        ("faces", "0002_merge_duplicate_crops"),  # faces merged first: their items moved to the kept face
    ]

    operations = [migrations.RunPython(merge, migrations.RunPython.noop, elidable=False)]
