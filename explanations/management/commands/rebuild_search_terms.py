"""Refill the dictionary of words that search corrects typos against, from every explanation revision and
comment (texts saved through the services add their words as they go; bulk imports may not)."""

from django.core.management.base import BaseCommand

from explanations.models import Comment, ExplanationRevision, SearchTerm
from explanations.services.explanations import search_terms_add


class Command(BaseCommand):
    help = "Add the words of every explanation and comment to the search-term dictionary."

    def handle(self, *args, **options) -> None:
        before = SearchTerm.objects.count()
        # Read in batches by primary key, with no query left open while the terms are written: on SQLite an
        # open read would make the writes fail ("database is locked") once another process has written.
        for queryset, field in ((ExplanationRevision.objects, "text"), (Comment.objects, "body")):
            after = 0
            while rows := list(queryset.filter(pk__gt=after).order_by("pk").values_list("pk", field)[:5000]):
                search_terms_add(texts=[text for _, text in rows])
                after = rows[-1][0]
        self.stdout.write(f"{SearchTerm.objects.count() - before} new terms; {SearchTerm.objects.count()} in all.")
