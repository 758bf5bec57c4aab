"""Store MiniLM embeddings for explanation revisions that lack one (machine-written explanations saved in
bulk skip them), so that semantic search covers every explanation. Runs locally; nothing is downloaded."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from explanations.models import Explanation, ExplanationRevision
from explanations.services.explanations import revisions_embed


class Command(BaseCommand):
    help = "Embed the current revision of every explanation that has no embedding yet (for semantic search)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=256)
        parser.add_argument("--all-revisions", action="store_true", help="Embed old revisions too")

    def handle(self, *args, batch_size: int, all_revisions: bool, **options) -> None:
        revisions = ExplanationRevision.objects.filter(embedding__isnull=True)
        if not all_revisions:
            revisions = revisions.filter(pk__in=Explanation.objects.values("current_revision_id"))
        pending = list(revisions.order_by("pk").values_list("pk", flat=True))
        stored = 0
        with tqdm(total=len(pending), unit="revision", disable=not pending) as progress:
            for start in range(0, len(pending), batch_size):
                batch = list(
                    ExplanationRevision.objects.filter(pk__in=pending[start : start + batch_size]).order_by("pk")
                )
                stored += revisions_embed(revisions=batch)
                progress.update(len(batch))
        self.stdout.write(f"Embedded {stored} of {len(pending)} revisions.")
