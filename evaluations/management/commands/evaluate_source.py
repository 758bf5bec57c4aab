"""Evaluate a dictionary source: its quality figures with the spliced loss, as an evaluation run."""

import json

from django.core.management.base import BaseCommand, CommandError

from evaluations.models import SourceEvaluation
from evaluations.services.evaluation_runs import evaluation_run_create
from features.models import PipelineRun, Source
from features.pipeline.corpus import BUILTIN_CORPUS
from features.pipeline.errors import PipelineInputError
from features.services.runs import run_enqueue_and_follow, run_follow


def source_arg(value: str) -> Source:
    model_slug, _, source_slug = value.strip("/").partition("/")
    source = Source.objects.select_related("model").filter(model__slug=model_slug, slug=source_slug).first()
    if source is None:
        raise CommandError(f"There is no source {value!r}; give MODEL/SOURCE, e.g. gpt2-small/6-res-jb.")
    return source


class Command(BaseCommand):
    help = (
        "Measure a dictionary's quality over a corpus's first windows: L0 and its distribution, explained "
        "variance, MSE, cosine, shrinkage, dead and dense features, and for a causal LM the loss with the "
        "reconstruction spliced in against the clean and zero-ablated loss. Stored and shown on the source page. "
        "A django-q2 worker (`manage.py qcluster`) must be running unless --sync is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="MODEL/SOURCE, e.g. tiny-gpt2/1-res-sae")
        parser.add_argument("--windows", type=int, default=64, help="Windows to evaluate on (default 64)")
        parser.add_argument("--window-len", type=int, default=128, help="Tokens a window (default 128)")
        parser.add_argument(
            "--corpus", default=BUILTIN_CORPUS, help=f"A corpus, as for compute_activations (default {BUILTIN_CORPUS})"
        )
        parser.add_argument("--batch-size", type=int, default=8)
        parser.add_argument(
            "--no-loss", action="store_true", help="Skip the spliced-loss passes (three forwards a batch)"
        )
        parser.add_argument("--device", default="", help="cpu, cuda, cuda:1, mps or auto (default NEURONPEDIA_DEVICE)")
        parser.add_argument("--dtype", default="", help="float32, bfloat16 or float16 (default NEURONPEDIA_DTYPE)")
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON when done")
        parser.add_argument("--sync", action="store_true", help="Run in this process instead of on a worker")
        parser.add_argument("--no-wait", action="store_true", help="Enqueue and return at once")
        parser.add_argument("--timeout", type=float, default=24 * 3600, help="Seconds to wait for the run")

    def handle(self, *args, **options):
        source = source_arg(options["source"])
        try:
            run, created = evaluation_run_create(
                source=source,
                n_windows=options["windows"],
                window_len=options["window_len"],
                corpus=options["corpus"],
                batch_size=options["batch_size"],
                with_loss=not options["no_loss"],
                device=options["device"],
                dtype=options["dtype"],
                sync=options["sync"],
            )
        except PipelineInputError as error:
            raise CommandError(str(error)) from error
        if options["json"]:  # the progress bar and messages go to stderr, so stdout holds the JSON alone
            self.stdout, stream = self.stderr, self.stdout
        if not created:
            self.stdout.write(f"The same evaluation is already under way: run #{run.pk}.")
            if not options["no_wait"]:
                run = run_follow(run=run, stdout=self.stdout, timeout_s=options["timeout"])
        else:
            run = run_enqueue_and_follow(
                run=run, wait=not options["no_wait"], stdout=self.stdout, timeout_s=options["timeout"]
            )
        if run.status != PipelineRun.Status.SUCCEEDED:
            return
        evaluation = SourceEvaluation.objects.get(run=run)
        if evaluation.loss_refusal:
            self.stdout.write(f"No spliced loss: {evaluation.loss_refusal}")
        if options["json"]:
            payload = {"source": str(source), "run": run.pk, "tokens": evaluation.tokens, "metrics": evaluation.metrics}
            stream.write(json.dumps(payload, indent=2, sort_keys=True))
