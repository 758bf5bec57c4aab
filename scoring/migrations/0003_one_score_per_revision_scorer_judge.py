from django.db import migrations, models


def drop_duplicate_scores(apps, schema_editor):
    """Before the constraint: keep the newest score of each (revision, scorer, judge), as pages showed."""
    score_model = apps.get_model("scoring", "ExplanationScore")
    duplicates = (
        score_model.objects.exclude(scorer="human")
        .exclude(revision=None)
        .values("revision", "scorer", "judge")
        .annotate(n=models.Count("pk"), newest=models.Max("pk"))
        .filter(n__gt=1)
    )
    for row in duplicates:
        score_model.objects.filter(revision=row["revision"], scorer=row["scorer"], judge=row["judge"]).exclude(
            pk=row["newest"]
        ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("explanations", "0006_generated_explanations"),
        ("scoring", "0002_score_revision_and_judge"),
    ]

    operations = [
        migrations.RunPython(drop_duplicate_scores, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="explanationscore",
            constraint=models.UniqueConstraint(
                condition=models.Q(("scorer", "human"), _negated=True),
                fields=("revision", "scorer", "judge"),
                name="score_one_per_revision_scorer_judge",
            ),
        ),
    ]
