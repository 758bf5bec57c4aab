from django.db import migrations, models


def offline_to_literal(apps, schema_editor):
    """Scores stored under the judge `offline` were the literal judge's: say so, now that the default offline
    judge is the semantic one. Their details name the judge too (the breakdown page shows it)."""
    score_model = apps.get_model("scoring", "ExplanationScore")
    for score in score_model.objects.filter(judge="offline").iterator():
        score.judge = "literal"
        if isinstance(score.details, dict) and score.details.get("judge") == "offline":
            score.details["judge"] = "literal"
        score.save(update_fields=["judge", "details"])


def literal_to_offline(apps, schema_editor):
    score_model = apps.get_model("scoring", "ExplanationScore")
    for score in score_model.objects.filter(judge="literal").iterator():
        score.judge = "offline"
        if isinstance(score.details, dict) and score.details.get("judge") == "literal":
            score.details["judge"] = "offline"
        score.save(update_fields=["judge", "details"])


class Migration(migrations.Migration):
    dependencies = [("scoring", "0003_one_score_per_revision_scorer_judge")]

    operations = [
        migrations.RunPython(offline_to_literal, literal_to_offline),
        migrations.AlterField(
            model_name="explanationscore",
            name="judge",
            field=models.CharField(
                blank=True,
                help_text="Who simulated or judged: semantic or literal (offline), or the LLM",
                max_length=200,
            ),
        ),
    ]
