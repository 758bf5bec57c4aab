"""Compute every playable feature's held-out pool (the windows its Predict and Verify cards come from, with
its true activations on them), one model at a time with one forward pass per batch of windows for all its
sources, so that starting a round runs no model. Features that already have a pool are skipped; a round
computes a missing one itself, only slower."""

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from features.inference import InferenceInputError
from features.models import LanguageModel
from gameplay.services.held_out import held_out_pools_compute


class Command(BaseCommand):
    help = "Store the held-out pools of every playable feature (of one model, or of all) that has none."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--model", default="", help="A model's slug (all models by default)")
        parser.add_argument("--force", action="store_true", help="Compute the pools that exist again too")

    def handle(self, *args, model: str, force: bool, **options) -> None:
        models = LanguageModel.objects.filter(sources__isnull=False).distinct().order_by("slug")
        if model:
            models = models.filter(slug=model)
            if not models.exists():
                raise CommandError(f"There is no model {model!r} with sources.")
        for language_model in models:
            sources = list(language_model.sources.select_related("model").order_by("layer", "slug"))
            started = time.perf_counter()
            with tqdm(desc=language_model.slug, unit="window", leave=False) as bar:

                def progress(done: int, total: int, bar=bar) -> None:
                    bar.total = total
                    bar.n = done
                    bar.refresh()

                try:
                    stored = held_out_pools_compute(sources=sources, force=force, progress=progress)
                except InferenceInputError as error:
                    self.stdout.write(f"{language_model.slug}: skipped, its model cannot run here ({error})")
                    continue
            seconds = time.perf_counter() - started
            self.stdout.write(
                f"{language_model.slug}: {stored} held-out pools stored over {len(sources)} sources in {seconds:.1f} s"
            )
