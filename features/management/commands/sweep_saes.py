from django.core.management.base import BaseCommand, CommandError

from features.models import LanguageModel
from features.pipeline.corpus import BUILTIN_CORPUS, CORPUS_HELP
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import HOOK_NAME
from features.pipeline.training import ARCHITECTURES, SPARSITY_SETTING
from features.services.dictionary_runs import dictionary_run_create
from features.services.runs import run_enqueue, run_follow

# The flag that lists each sparsity setting's values.
SPARSITY_FLAGS = {"k": "--k", "l1_coefficient": "--l1", "l0_coefficient": "--l0"}


def number_list(value: str, kind=float) -> list:
    try:
        numbers = [kind(part) for part in value.split(",") if part.strip()]
    except ValueError as error:
        raise CommandError(f"{value!r} is not a comma-separated list of numbers.") from error
    if not numbers or any(number <= 0 for number in numbers):
        raise CommandError(f"{value!r}: give positive numbers, separated by commas.")
    return numbers


def sweep_slug(hook_name: str, architecture: str, width: int, setting: str, value: float) -> str:
    """e.g. blocks.1.hook_resid_pre, topk, 64, k=8 -> 1-resid-pre-topk-64-k8; l1_coefficient=0.5 -> ...-l1-0p5."""
    layer, point = hook_name.split(".")[1], hook_name.rsplit(".", 1)[-1].removeprefix("hook_").replace("_", "-")
    short = {"k": "k", "l1_coefficient": "l1-", "l0_coefficient": "l0-"}[setting]
    return f"{layer}-{point}-{architecture}-{width}-{short}{value:g}".replace(".", "p").lower()


class Command(BaseCommand):
    help = (
        "Queue several dictionaries on one hook, one training run each (kind 'Training a dictionary', with its "
        "progress on the run's page): every width in --widths with every sparsity setting of the architecture "
        "(--k for topk and batchtopk, --l1 for standard, gated and transcoder, --l0 for jumprelu). Each is saved "
        "in the SAELens format and registered as a source when done. Needs a worker (manage.py qcluster) unless "
        "--sync."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", help="Slug of a registered model")
        parser.add_argument("hook", help="Hook name, e.g. blocks.1.hook_resid_pre")
        parser.add_argument("--widths", required=True, help="Numbers of features, e.g. 64,128,256")
        parser.add_argument("--architecture", choices=ARCHITECTURES, default="topk")
        parser.add_argument("--k", default="", help="Active features per token, e.g. 8,16 (topk, batchtopk)")
        parser.add_argument("--l1", default="", help="L1 coefficients, e.g. 0.5,2 (standard, gated, transcoder)")
        parser.add_argument("--l0", default="", help="L0 coefficients, e.g. 0.1,1 (jumprelu)")
        parser.add_argument("--hook-out", default="", help="The hook a transcoder predicts")
        parser.add_argument("--corpus", default=BUILTIN_CORPUS, help=CORPUS_HELP)
        parser.add_argument("--text-field", default="")
        parser.add_argument("--windows", type=int, default=1000, help="Token windows to train on")
        parser.add_argument("--window-len", type=int, default=128)
        parser.add_argument("--steps", type=int, default=800)
        parser.add_argument("--batch-tokens", type=int, default=1024)
        parser.add_argument("--lr", type=float, default=1e-3)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--device", default="")
        parser.add_argument("--dtype", default="")
        parser.add_argument("--sync", action="store_true", help="Train here, one after another, not on a worker")
        parser.add_argument("--wait", action="store_true", help="Follow each run until it finishes")
        parser.add_argument("--timeout", type=float, default=24 * 3600, help="Seconds to wait for each run")

    def handle(self, *args, **options):
        model = LanguageModel.objects.filter(slug=options["model"]).first()
        if model is None:
            known = ", ".join(LanguageModel.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No model {options['model']!r} is registered (registered: {known}).")
        # The hook's layer is checked here, before anything is queued; the rest of it by each run, which reports
        # a hook the model's architecture lacks as its reason for failing.
        match = HOOK_NAME.match(options["hook"])
        if not match or int(match.group(1)) >= model.n_layers:
            raise CommandError(
                f"{options['hook']!r} is not a hook of {model.slug}: give blocks.L.<point> with L from 0 to "
                f"{model.n_layers - 1}, e.g. blocks.0.hook_resid_pre."
            )
        architecture = options["architecture"]
        setting = SPARSITY_SETTING[architecture]
        given = {name: options[flag.lstrip("-")] for name, flag in SPARSITY_FLAGS.items()}
        wrong = [SPARSITY_FLAGS[name] for name, value in given.items() if value and name != setting]
        if wrong or not given[setting]:
            raise CommandError(
                f"A {architecture} sweep takes its sparsities from {SPARSITY_FLAGS[setting]} "
                f"(e.g. {SPARSITY_FLAGS[setting]} {'8,16' if setting == 'k' else '0.5,2'})"
                + (f", not {', '.join(wrong)}." if wrong else ".")
            )
        values = number_list(given[setting], int if setting == "k" else float)
        widths = number_list(options["widths"], int)
        if any(setting == "k" and value > width for width in widths for value in values):
            raise CommandError(
                "Every k must be at most every width (a dictionary cannot keep more features than it has)."
            )

        runs = []
        for width in widths:
            for value in values:
                slug = sweep_slug(options["hook"], architecture, width, setting, value)
                training = {
                    "architecture": architecture,
                    "d_sae": width,
                    setting: value,
                    "hook_name_out": options["hook_out"],
                    "steps": options["steps"],
                    "batch_tokens": options["batch_tokens"],
                    "lr": options["lr"],
                    "seed": options["seed"],
                }
                try:
                    run, created = dictionary_run_create(
                        model=model,
                        hook_name=options["hook"],
                        slug=slug,
                        training=training,
                        corpus=options["corpus"],
                        text_field=options["text_field"],
                        n_windows=options["windows"],
                        window_len=options["window_len"],
                        device=options["device"],
                        dtype=options["dtype"],
                        sync=options["sync"],
                    )
                except PipelineInputError as error:
                    raise CommandError(str(error)) from error
                if not created:
                    self.stdout.write(f"{slug}: the same run is already under way, #{run.pk}.")
                    runs.append(run)
                    continue
                self.stdout.write(f"{slug}: run #{run.pk} queued ({run.get_absolute_url()}).")
                runs.append(run_enqueue(run=run))
        for run in runs:
            if options["wait"] or run.params.get("sync"):
                run.refresh_from_db()
                if run.status == run.Status.FAILED:
                    raise CommandError(f"Run #{run.pk} ({run.params['slug']}) failed: {run.error}")
                run = run_follow(run=run, stdout=self.stdout, timeout_s=options["timeout"])
        self.stdout.write(
            f"{len(runs)} dictionaries on {model.slug} {options['hook']}. When they are trained, compare their "
            f"features with: manage.py match_features {model.slug}/NARROW {model.slug}/WIDE"
        )
