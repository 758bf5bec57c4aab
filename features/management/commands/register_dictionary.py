from django.core.management.base import BaseCommand, CommandError

from features.models import LanguageModel
from features.pipeline.errors import PipelineInputError
from features.services.registration import dictionary_register_file, dictionary_register_release


class Command(BaseCommand):
    help = (
        "Register a dictionary (an SAE or a transcoder) as a source of a registered model: a SAELens directory "
        "(cfg.json + sae_weights.safetensors), Gemma Scope's params.npz, a circuit-tracer transcoder file, or "
        "--release/--sae-id of a sae-lens release from the local Hugging Face cache. Compute it with "
        "compute_activations --dictionaries."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path", nargs="?", default="", help="A SAELens directory, params.npz or layer_N.safetensors"
        )
        parser.add_argument("--release", default="", help="A sae-lens release, e.g. gemma-scope-2b-pt-res")
        parser.add_argument("--sae-id", default="", help="The release's sae_id, e.g. layer_20/width_16k/average_l0_71")
        parser.add_argument("--model", required=True, help="Slug of the registered model it belongs to")
        parser.add_argument("--slug", required=True, help="Source name, e.g. 6-res-jb")
        parser.add_argument("--hook", default="", help="Hook it reads, if its files lack it or are wrong")
        parser.add_argument("--hook-out", default="", help="Hook a transcoder writes (e.g. blocks.3.hook_mlp_out)")
        parser.add_argument("--layer", type=int, default=None, help="A circuit-tracer file's layer (else layer_N)")

    def handle(self, *args, path, release, sae_id, model, slug, hook, hook_out, layer, **options):
        if bool(path) == bool(release):
            raise CommandError("Give either a path or --release with --sae-id.")
        if bool(release) != bool(sae_id):
            raise CommandError("--release and --sae-id go together (register_release registers many of a release).")
        language_model = LanguageModel.objects.filter(slug=model).first()
        if language_model is None:
            raise CommandError(f"No model {model!r} is registered.")
        try:
            if release:
                if hook_out or layer is not None:
                    raise CommandError("--hook-out and --layer are for files; a release says where it writes.")
                source = dictionary_register_release(
                    model=language_model, release=release, sae_id=sae_id, slug=slug, hook_name=hook
                )
            else:
                source = dictionary_register_file(
                    model=language_model, path=path, slug=slug, hook_name=hook, hook_name_out=hook_out, layer=layer
                )
        except PipelineInputError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(describe(source))


def describe(source) -> str:
    config = source.config
    where = f"{source.hook_name}" + (
        f" -> {config['hook_name_out']}" if config.get("hook_name_out") not in (None, source.hook_name) else ""
    )
    origin = (
        f" from {config['release']}/{config['sae_id']} ({config['repo_id']}@{(config.get('revision') or '?')[:12]})"
        if config.get("release")
        else f" ({config.get('format', 'saelens')})"
    )
    extra = f", Neuronpedia {config['neuronpedia_id']}" if config.get("neuronpedia_id") else ""
    text = (
        f"Registered {source}: {source.get_kind_display()} with {source.n_features:,} features at {where}{origin}"
        f"{extra}."
    )
    if config.get("centre_inputs"):
        text += (
            "\n  Its inputs are centred over d_model before encoding, as on the TransformerLens model it was trained"
            " on (center_writing_weights)."
        )
    other = {key: value for key, value in (config.get("model_from_pretrained_kwargs") or {}).items()}
    other.pop("center_writing_weights", None)
    if other:
        text += (
            f"\n  Note: it was trained on a TransformerLens model loaded with {other}; this site hooks the"
            " unprocessed model."
        )
    return text
