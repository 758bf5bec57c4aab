"""Arguments and run handling shared by explain_source and score_source."""

from django.core.management.base import BaseCommand, CommandError

from features.models import PipelineRun, Source
from features.services.runs import run_enqueue_and_follow, run_follow
from scoring.core.offline_judges import DEFAULT_JUDGE, JUDGE_NAMES
from scoring.core.scorers import SCORERS
from scoring.services.runs import PipelineRequestError


def source_arg(value: str) -> Source:
    model_slug, _, source_slug = value.strip("/").partition("/")
    source = Source.objects.select_related("model").filter(model__slug=model_slug, slug=source_slug).first()
    if source is None:
        known = ", ".join(str(s) for s in Source.objects.select_related("model")[:20]) or "none yet"
        raise CommandError(f"There is no source {value!r}; give MODEL/SOURCE (known: {known}).")
    return source


def scorer_list(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCORERS or name == "human"]
    if unknown:
        choices = ", ".join(sorted(set(SCORERS) - {"human"}))
        raise CommandError(f"Unknown scorer {unknown[0]!r}; choose from {choices}.")
    return names


def add_llm_arguments(parser, *, who: str) -> None:
    """--judge, the LLM endpoint the openai-compatible `who` (explainer, judge) talks to, and the checkpoint a
    local-transformers one runs."""
    parser.add_argument("--judge", choices=JUDGE_NAMES, default=DEFAULT_JUDGE)
    parser.add_argument(
        "--model-path",
        default="",
        help=f"local-transformers {who}: a causal LM's directory (default: LOCAL_EXPLAINER_MODEL_PATH)",
    )
    parser.add_argument("--llm-model", default="", help=f"openai-compatible {who}: LLM name (default: OPENAI_MODEL)")
    parser.add_argument(
        "--llm-base-url", default="", help=f"openai-compatible {who}: endpoint (default: OPENAI_BASE_URL)"
    )


def add_run_arguments(parser) -> None:
    parser.add_argument("--sync", action="store_true", help="Run in this process instead of on a worker")
    parser.add_argument("--no-wait", action="store_true", help="Enqueue and return at once")
    parser.add_argument("--timeout", type=float, default=24 * 3600, help="Seconds to wait for the run")


def create_and_report(command: BaseCommand, create, options: dict) -> None:
    """`create(source, **llm_options)` makes the run (its refusal becomes a CommandError); then run_and_report."""
    source = source_arg(options["source"])
    try:
        run, created = create(
            source=source,
            judge=options["judge"],
            llm_model=options["llm_model"],
            llm_base_url=options["llm_base_url"],
            local_model_path=options["model_path"],
            sync=options["sync"],
        )
    except PipelineRequestError as error:
        raise CommandError(str(error)) from error
    run_and_report(command, run, created, options)


def run_and_report(command: BaseCommand, run: PipelineRun, created: bool, options: dict) -> None:
    """Start a new run (or follow the same one already under way) with a progress bar, then list the
    features that failed."""
    if not created:
        command.stdout.write(f"The same run is already under way: #{run.pk}.")
        if options["no_wait"]:
            return
        run = run_follow(run=run, stdout=command.stdout, timeout_s=options["timeout"])
    else:
        run = run_enqueue_and_follow(
            run=run, wait=not options["no_wait"], stdout=command.stdout, timeout_s=options["timeout"]
        )
    for failure in run.failures[:20]:
        command.stderr.write(f"{failure['feature']}: {failure['error']}")
