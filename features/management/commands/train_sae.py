from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from features.models import LanguageModel, slug_validator
from features.pipeline import cache
from features.pipeline.corpus import (
    BUILTIN_CORPUS,
    CORPUS_HELP,
    corpus_documents,
    corpus_identity,
    make_windows,
    with_text_field,
)
from features.pipeline.devices import resolve
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import hook_module, parse_hook_name
from features.pipeline.training import ARCHITECTURES, train_sae
from features.services.registration import dictionary_register


class Command(BaseCommand):
    help = (
        "Train a sparse autoencoder (sae-lens) on a hook of a registered model over a corpus, save it in the "
        "SAELens format under NEURONPEDIA_DATA_DIR/dictionaries/<model>/<slug>/ and register it as a source. "
        "Compute its features with compute_activations --dictionaries <slug>."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="Slug of a registered model")
        parser.add_argument("--hook", required=True, help="Hook name, e.g. blocks.3.hook_resid_pre")
        parser.add_argument("--slug", required=True, help="Source name, e.g. 3-res-sae")
        parser.add_argument(
            "--architecture",
            choices=ARCHITECTURES,
            default="topk",
            help="topk, batchtopk (saved as jumprelu), standard (L1), gated (L1), jumprelu (L0), transcoder "
            "(reads --hook, predicts --hook-out)",
        )
        parser.add_argument("--hook-out", default="", help="The hook a transcoder predicts, e.g. blocks.3.hook_mlp_out")
        parser.add_argument("--d-sae", type=int, default=3072, help="Number of features")
        parser.add_argument("--k", type=int, default=32, help="Active features per token (topk, batchtopk)")
        parser.add_argument(
            "--l1-coefficient", type=float, default=5.0, help="Sparsity penalty (standard, gated, transcoder)"
        )
        parser.add_argument("--l0-coefficient", type=float, default=1.0, help="L0 sparsity penalty (jumprelu)")
        parser.add_argument(
            "--jumprelu-threshold", type=float, default=0.01, help="Initial threshold, in scaled units (jumprelu)"
        )
        parser.add_argument(
            "--jumprelu-bandwidth", type=float, default=0.05, help="Width of the estimators' kernel (jumprelu)"
        )
        parser.add_argument("--corpus", default=BUILTIN_CORPUS, help=CORPUS_HELP)
        parser.add_argument("--text-field", default="", help="The text field of a .jsonl/.parquet/dataset corpus")
        parser.add_argument("--windows", type=int, default=1000, help="Token windows to train on")
        parser.add_argument("--window-len", type=int, default=128, help="Tokens per window")
        parser.add_argument("--steps", type=int, default=800, help="Training steps")
        parser.add_argument("--batch-tokens", type=int, default=1024, help="Tokens per training step")
        parser.add_argument("--lr", type=float, default=1e-3)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--out", default="", help="Directory to save to (default: under NEURONPEDIA_DATA_DIR)")
        parser.add_argument("--device", default="", help="auto, cpu, cuda, cuda:N or mps (default NEURONPEDIA_DEVICE)")
        parser.add_argument(
            "--dtype",
            default="",
            help="The model's dtype, float32, bfloat16 or float16 (GPU only); the SAE trains in float32 whatever it "
            "is (default NEURONPEDIA_DTYPE)",
        )

    def handle(self, *args, **options):
        model = LanguageModel.objects.filter(slug=options["model"]).first()
        if model is None:
            known = ", ".join(LanguageModel.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No model {options['model']!r} is registered (registered: {known}).")
        slug = options["slug"]
        try:
            slug_validator(slug)
        except ValidationError as error:
            raise CommandError(f"Invalid source name {slug!r}: {' '.join(error.messages)}") from error
        directory = Path(options["out"] or Path(settings.NEURONPEDIA_DATA_DIR) / "dictionaries" / model.slug / slug)
        try:
            device, dtype = resolve(
                options["device"] or settings.NEURONPEDIA_DEVICE, options["dtype"] or settings.NEURONPEDIA_DTYPE
            )
            loaded = cache.models.get(model.path, device=device, dtype=dtype)
            hook_module(loaded, parse_hook_name(options["hook"], loaded))  # a bad hook fails before any work
            corpus = with_text_field(options["corpus"], options["text_field"])
            windows = make_windows(
                loaded.tokenizer,
                corpus_documents(corpus),
                n_windows=options["windows"],
                window_len=options["window_len"],
                corpus_name=corpus,
                identity=corpus_identity(corpus),
            )
            n_tokens = sum(len(window) for window in windows.token_ids)
            self.stdout.write(
                f"Training a {options['architecture']} SAE with {options['d_sae']:,} features on {model.slug} "
                f"{options['hook']} over {len(windows.token_ids):,} windows ({n_tokens:,} tokens), the model on "
                f"{device} in {dtype}, the SAE in float32."
            )
            with tqdm(total=options["steps"], unit="step", desc="Training SAE") as bar:
                trained = train_sae(
                    loaded,
                    options["hook"],
                    windows.token_ids,
                    d_sae=options["d_sae"],
                    architecture=options["architecture"],
                    k=options["k"],
                    l1_coefficient=options["l1_coefficient"],
                    l0_coefficient=options["l0_coefficient"],
                    jumprelu_threshold=options["jumprelu_threshold"],
                    jumprelu_bandwidth=options["jumprelu_bandwidth"],
                    hook_name_out=options["hook_out"],
                    steps=options["steps"],
                    batch_tokens=options["batch_tokens"],
                    lr=options["lr"],
                    seed=options["seed"],
                    model_name=model.slug,
                    on_progress=lambda done, total: bar.update(done - bar.n),
                )
            trained.save(directory)
            source = dictionary_register(model=model, path=str(directory), slug=slug)
        except PipelineInputError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Trained: {trained.report.summary()}.")
        self.stdout.write(
            f"Registered {source} ({source.n_features:,} features at {source.hook_name}), saved in {directory}. "
            f"Compute its features with: compute_activations --model {model.slug} --dictionaries {slug}"
        )
