"""Encode the words of every stored context window for the semantic judge, once, into its word-vector store
(NEURONPEDIA_VAR_DIR/semantic-words.npz): scoring a stored window then runs no encoder. Words already stored
are skipped, so running it again after new windows were stored encodes only their new words."""

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from features.models import LanguageModel
from scoring.services.semantic_words import semantic_words_build, semantic_words_path


class Command(BaseCommand):
    help = "Store the semantic judge's word vectors of every stored context window (of one model, or all)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--model", default="", help="A model's slug (the windows of all models by default)")

    def handle(self, *args, model: str, **options) -> None:
        language_model = None
        if model:
            language_model = LanguageModel.objects.filter(slug=model).first()
            if language_model is None:
                raise CommandError(f"There is no model {model!r}.")
        started = time.perf_counter()
        with tqdm(desc="semantic words", unit="word", leave=False) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            result = semantic_words_build(model=language_model, progress=progress)
        self.stdout.write(
            f"{result.windows} windows, {result.words} words: {result.encoded} encoded in "
            f"{time.perf_counter() - started:.1f} s; {result.stored} words in {semantic_words_path()}"
        )
