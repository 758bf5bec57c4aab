"""Refill the dictionary of words that search corrects typos against, from every explanation revision and
comment (texts saved through the services add their words as they go; bulk imports may not)."""

from django.core.management.base import BaseCommand

from explanations.models import Comment, ExplanationRevision, SearchTerm
from explanations.services import search_terms_add


class Command(BaseCommand):
    help = "Add the words of every explanation and comment to the search-term dictionary."

    def handle(self, *args, **options) -> None:
        before = SearchTerm.objects.count()
        for queryset, field in ((ExplanationRevision.objects, "text"), (Comment.objects, "body")):
            batch: list[str] = []
            for text in queryset.values_list(field, flat=True).iterator(chunk_size=5000):
                batch.append(text)
                if len(batch) == 5000:
                    search_terms_add(texts=batch)
                    batch = []
            search_terms_add(texts=batch)
        self.stdout.write(f"{SearchTerm.objects.count() - before} new terms; {SearchTerm.objects.count()} in all.")
