from django.core.management.base import BaseCommand, CommandError

from features.models import LanguageModel
from features.pipeline.errors import PipelineInputError
from features.services.registration import dictionary_register


class Command(BaseCommand):
    help = (
        "Register a SAELens-format dictionary directory (cfg.json + sae_weights.safetensors: an SAE or a "
        "transcoder) as a source of a registered model. Compute it with compute_activations --dictionaries."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="Directory with cfg.json and sae_weights.safetensors")
        parser.add_argument("--model", required=True, help="Slug of the registered model it belongs to")
        parser.add_argument("--slug", required=True, help="Source name, e.g. 6-res-jb")
        parser.add_argument("--hook", default="", help="Hook name, if cfg.json lacks it or is wrong")

    def handle(self, *args, path, model, slug, hook, **options):
        language_model = LanguageModel.objects.filter(slug=model).first()
        if language_model is None:
            raise CommandError(f"No model {model!r} is registered.")
        try:
            source = dictionary_register(model=language_model, path=path, slug=slug, hook_name=hook)
        except PipelineInputError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Registered {source}: {source.get_kind_display()} with {source.n_features:,} features "
            f"at {source.hook_name}."
        )
