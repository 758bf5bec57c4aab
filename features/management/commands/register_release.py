from django.core.management.base import BaseCommand, CommandError

from features.models import LanguageModel
from features.pipeline.errors import PipelineInputError
from features.pipeline.releases import release_sae_ids, release_source_slugs
from features.services.registration import dictionary_register_release

from .register_dictionary import describe


class Command(BaseCommand):
    help = (
        "Register every downloaded sae_id of a sae-lens release (from the local Hugging Face cache, never the "
        "network) as sources of a registered model; say which were skipped and why."
    )

    def add_arguments(self, parser):
        parser.add_argument("release", help="A sae-lens release, e.g. gemma-scope-2b-pt-res-canonical")
        parser.add_argument("--model", required=True, help="Slug of the registered model they belong to")
        parser.add_argument(
            "--filter", default="*", help="Only sae_ids matching this glob, e.g. 'layer_2*/width_16k/*'"
        )

    def handle(self, *args, release, model, filter, **options):
        language_model = LanguageModel.objects.filter(slug=model).first()
        if language_model is None:
            raise CommandError(f"No model {model!r} is registered.")
        try:
            downloaded, skipped = release_sae_ids(release, filter)
            slugs = release_source_slugs(release, downloaded)
        except PipelineInputError as error:
            raise CommandError(str(error)) from error
        registered = 0
        for sae_id in downloaded:
            try:
                source = dictionary_register_release(
                    model=language_model, release=release, sae_id=sae_id, slug=slugs[sae_id]
                )
            except PipelineInputError as error:
                skipped.append((sae_id, str(error)))
                continue
            registered += 1
            self.stdout.write(describe(source))
        for sae_id, reason in skipped:
            self.stdout.write(f"Skipped {release}/{sae_id}: {reason}")
        self.stdout.write(f"{registered} registered, {len(skipped)} skipped.")
        if not registered:
            raise CommandError(f"Nothing of {release} matching {filter!r} could be registered.")
