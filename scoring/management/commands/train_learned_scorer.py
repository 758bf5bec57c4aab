"""Train the learned scorer on the queue, evaluate it on held-out features and register it if it wins."""

from django.core.management.base import BaseCommand, CommandError

from scoring.core.errors import ScoringInputError
from scoring.core.learned_data import FAMILIES, HELD_OUT
from scoring.services.learned import learned_run_create

from ._sources import add_run_arguments, run_and_report


class Command(BaseCommand):
    help = (
        "Train the learned scorer (a small head over MiniLM features) on generated planted-rule and word-class "
        "features and on explanations that verifiers or an LLM judge scored well; evaluate it on held-out "
        "families against the default offline judge; save it as a new version under NEURONPEDIA_VAR_DIR and "
        "register it as the `learned` judge only if it wins."
    )

    def add_arguments(self, parser):
        parser.add_argument("--steps", type=int, default=300, help="Training steps (full-batch Adam)")
        parser.add_argument("--windows", type=int, default=60, help="Generated windows per training family")
        parser.add_argument(
            "--held-out",
            default=",".join(HELD_OUT),
            help=f"Families never trained on, evaluated on (from {', '.join(FAMILIES)})",
        )
        add_run_arguments(parser)

    def handle(self, *args, **options):
        held_out = tuple(name.strip() for name in options["held_out"].split(",") if name.strip())
        try:
            run, created = learned_run_create(
                steps=options["steps"], held_out=held_out, n_windows=options["windows"], sync=options["sync"]
            )
        except ScoringInputError as error:
            raise CommandError(str(error)) from error
        run_and_report(self, run, created, options)
        run.refresh_from_db()
        result = run.params.get("result")
        if result:
            baseline = result["baseline"]
            self.stdout.write(f"learned v{result['version']}: {held_out_figures(result['figures'])}")
            self.stdout.write(f"{baseline['judge']}: {held_out_figures(baseline['figures'])}")
            self.stdout.write("registered" if result["registered"] else "not registered")


def held_out_figures(figures: dict) -> str:
    """One line a person reads: strict wins, ties and Spearman of the true explanations on held-out puzzles."""
    return (
        f"true explanation strictly first on {figures['strict_wins']}/{figures['puzzles']} puzzles, "
        f"{figures['ties']} tied, Spearman {figures['spearman']:+.3f}"
    )
