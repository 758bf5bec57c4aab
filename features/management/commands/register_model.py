from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from features.pipeline.errors import PipelineInputError
from features.services.registration import model_register, model_slug_validate
from features.uploads import checkpoint_directory_check, shown_path


class Command(BaseCommand):
    help = "Register a local transformers checkpoint directory as a language model."

    def add_arguments(self, parser):
        parser.add_argument("path", help="Directory with config.json, weights and tokenizer files")
        parser.add_argument("--slug", required=True, help="URL name, e.g. minilm-l6")
        parser.add_argument("--name", default="", help="Display name")
        parser.add_argument("--description", default="")

    def handle(self, *args, path, slug, name, description, **options):
        try:
            model_slug_validate(slug=slug)
            # The loader reports a corrupt safetensors file with a traceback and builds an empty tokenizer when
            # the tokenizer's files are missing: check those first.
            checkpoint_directory_check(path)
            model = model_register(slug=slug, path=path, display_name=name, description=description)
        except PipelineInputError as error:
            raise CommandError(str(error)) from error
        except OSError as error:  # a file the check could list but the loader cannot read
            raise CommandError(f"Model path {shown_path(path)} cannot be read: {error.strerror or error}.") from error
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(
            f"Registered {model.slug}: {model.architecture}, {model.n_layers} layers, "
            f"d_model {model.d_model}, d_mlp {model.d_mlp}."
        )
