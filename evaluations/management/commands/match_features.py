from django.core.management.base import BaseCommand, CommandError

from evaluations.core.matching import DEFAULT_SPLIT_THRESHOLD
from evaluations.families import MatchingError, dictionary_matching_compute
from features.models import Source


def source_arg(value: str) -> Source:
    model_slug, _, source_slug = value.strip("/").partition("/")
    source = Source.objects.select_related("model").filter(model__slug=model_slug, slug=source_slug).first()
    if source is None:
        known = ", ".join(str(s) for s in Source.objects.select_related("model").exclude(dictionary_path="")[:20])
        raise CommandError(f"There is no source {value!r}; give MODEL/SOURCE (dictionaries: {known or 'none yet'}).")
    return source


class Command(BaseCommand):
    help = (
        "Match the features of two dictionaries by the cosine of their decoder directions: an optimal one-to-one "
        "matching and each feature of the wider one to its best match in the narrower (splits). Both must write "
        "into spaces of one width: two widths or layers of one model, or a base model and its fine-tune. The "
        "result is stored (replacing an earlier one) and shown on feature pages ('This feature elsewhere')."
    )

    def add_arguments(self, parser):
        parser.add_argument("source_a", help="MODEL/SOURCE, e.g. tiny-gpt2/1-res-topk-64")
        parser.add_argument("source_b", help="MODEL/SOURCE, e.g. tiny-gpt2/1-res-topk-128")
        parser.add_argument(
            "--split-threshold",
            type=float,
            default=DEFAULT_SPLIT_THRESHOLD,
            help=f"Lowest decoder cosine kept as a split (default {DEFAULT_SPLIT_THRESHOLD})",
        )

    def handle(self, *args, **options):
        source_a, source_b = source_arg(options["source_a"]), source_arg(options["source_b"])
        try:
            result = dictionary_matching_compute(
                source_a=source_a, source_b=source_b, split_threshold=options["split_threshold"]
            )
        except MatchingError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Matched {result.source_a} ({result.source_a.n_features:,} features) with {result.source_b} "
            f"({result.source_b.n_features:,}), {result.get_relation_display().lower()}: "
            f"{result.n_one_to_one:,} one-to-one pairs of mean cosine {result.mean_one_to_one_cosine:.3f}; "
            f"{result.n_splits:,} of {result.source_b.slug}'s features split from one of {result.source_a.slug}'s "
            f"at cosine >= {result.split_threshold:g}."
        )
