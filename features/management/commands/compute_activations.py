from django.core.management.base import BaseCommand, CommandError

from features.models import LanguageModel, Source
from features.pipeline.corpus import BUILTIN_CORPUS, CORPUS_HELP, with_text_field
from features.pipeline.errors import PipelineInputError
from features.services.activation_runs import activation_run_create
from features.services.runs import run_enqueue_and_follow


def number_list(value: str) -> list[int]:
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError as error:
        raise CommandError(f"--layers takes comma-separated layer numbers, e.g. 0,3 (got {value!r}).") from error


class Command(BaseCommand):
    help = (
        "Compute full feature dashboards (top-k windows, interval samples, histogram, density, logits, similar "
        "features) for MLP neuron layers and registered dictionaries of a model, sharded on the task queue. "
        "A django-q2 worker (`manage.py qcluster`) must be running unless --sync is given."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--model", help="Slug of a registered model")
        target.add_argument("--model-path", help="A checkpoint directory, registered when the run succeeds")
        parser.add_argument("--slug", default="", help="Slug for --model-path (default: the directory name)")
        parser.add_argument("--layers", type=number_list, default=[], help="MLP neuron layers, e.g. 0,3")
        parser.add_argument(
            "--dictionaries",
            default="",
            help="Comma-separated slugs of the model's dictionary sources (see register_dictionary, train_sae)",
        )
        parser.add_argument("--corpus", default=BUILTIN_CORPUS, help=CORPUS_HELP)
        parser.add_argument("--text-field", default="", help="The text field of a .jsonl/.parquet/dataset corpus")
        parser.add_argument("--windows", type=int, default=1700, help="Number of token windows")
        parser.add_argument("--window-len", type=int, default=128, help="Tokens per window")
        parser.add_argument("--top-k", type=int, default=20)
        parser.add_argument("--samples-per-bin", type=int, default=3, help="Interval samples per activation bin")
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--shard-windows", type=int, default=2048, help="Windows per shard (one task each)")
        parser.add_argument(
            "--device",
            default="",
            help="auto, cpu, cuda, cuda:N or mps, resolved by the worker (default NEURONPEDIA_DEVICE, auto)",
        )
        parser.add_argument(
            "--dtype",
            default="",
            help="The model's dtype: float32, bfloat16 or float16 (GPU only) (default NEURONPEDIA_DTYPE, float32)",
        )
        parser.add_argument("--sync", action="store_true", help="Run in this process instead of on a worker")
        parser.add_argument("--no-wait", action="store_true", help="Enqueue and return at once")
        parser.add_argument("--timeout", type=float, default=7200, help="Seconds to wait for the run")

    def handle(self, *args, **options):
        model = None
        dictionaries = []
        if options["model"]:
            model = LanguageModel.objects.filter(slug=options["model"]).first()
            if model is None:
                known = ", ".join(LanguageModel.objects.values_list("slug", flat=True)) or "none yet"
                raise CommandError(f"No model {options['model']!r} is registered (registered: {known}).")
            for slug in filter(None, (part.strip() for part in options["dictionaries"].split(","))):
                source = Source.objects.filter(model=model, slug=slug).exclude(dictionary_path="").first()
                if source is None:
                    raise CommandError(f"{model.slug} has no dictionary source {slug!r}.")
                dictionaries.append(source)
        elif options["dictionaries"]:
            raise CommandError("--dictionaries needs --model (register the model first).")
        try:
            run = activation_run_create(
                model=model,
                model_path=options["model_path"] or "",
                model_slug=options["slug"],
                layers=options["layers"],
                dictionary_sources=dictionaries,
                corpus=with_text_field(options["corpus"], options["text_field"]),
                n_windows=options["windows"],
                window_len=options["window_len"],
                top_k=options["top_k"],
                samples_per_bin=options["samples_per_bin"],
                batch_size=options["batch_size"],
                shard_windows=options["shard_windows"],
                sync=options["sync"],
                device=options["device"],
                dtype=options["dtype"],
            )
        except PipelineInputError as error:
            raise CommandError(str(error)) from error
        run_enqueue_and_follow(
            run=run,
            wait=not options["no_wait"],
            stdout=self.stdout,
            timeout_s=options["timeout"],
        )
