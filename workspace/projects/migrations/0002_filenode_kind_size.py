from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("projects", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="filenode",
            name="kind",
            field=models.CharField(
                choices=[
                    ("text", "Text (live document)"),
                    ("binary", "Binary (stored as is)"),
                    ("readonly", "Text too large to edit live (stored read-only)"),
                ],
                default="text",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="filenode",
            name="size",
            field=models.BigIntegerField(blank=True, null=True),
        ),
    ]
