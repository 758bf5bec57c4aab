"""Explain features from a JSONL file of activation records, with no database: see README.md."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from scoring.core.errors import LLMError, ScoringInputError
from scoring.core.formats import records_by_kind
from scoring.core.jsonl import FatalLineError, open_text, run_jsonl
from scoring.explainers import EXPLAINERS, ExplainerError, get_explainer
from scoring.explainers.prompts import PROMPTS
from scoring.llm_settings import llm_config, local_model_path


class Command(BaseCommand):
    help = (
        'Explain features: each input line holds {"records": [{"tokens": [...], "activations": [...]}, ...]} '
        "(top examples, and random windows or hard negatives to compare with); each output line adds "
        '"explanation", "method", "model", "rule" and "metadata", or is {"line": N, "error": ...}. Exits with '
        "status 1 if any line failed."
    )
    requires_system_checks = []  # no database, no models: usable anywhere the code is

    def add_arguments(self, parser):
        parser.add_argument("--explainer", choices=sorted(EXPLAINERS), default="token-stats")
        parser.add_argument("--input", required=True, help="JSONL file, or - for stdin")
        parser.add_argument("--output", required=True, help="JSONL file, or - for stdout")
        parser.add_argument("--prompt", choices=PROMPTS, default=None, help="For the LLM explainers")
        parser.add_argument("--base-url", default="", help="openai-compatible: endpoint (default: OPENAI_BASE_URL)")
        parser.add_argument("--model", default="", help="openai-compatible: LLM name (default: OPENAI_MODEL)")
        parser.add_argument("--api-key", default="", help="openai-compatible: key (default: OPENAI_API_KEY)")
        parser.add_argument("--timeout", type=float, default=None, help="Seconds per LLM request")
        parser.add_argument("--max-retries", type=int, default=None)
        parser.add_argument(
            "--model-path",
            default="",
            help="local-transformers: checkpoint directory (default: LOCAL_EXPLAINER_MODEL_PATH)",
        )
        parser.add_argument("--max-new-tokens", type=int, default=40, help="local-transformers")
        parser.add_argument("--seed", type=int, default=0, help="local-transformers")
        parser.add_argument(
            "--device", default="", help="local-transformers: auto, cpu, cuda, cuda:N, mps (default NEURONPEDIA_DEVICE)"
        )
        parser.add_argument(
            "--dtype", default="", help="local-transformers: float32, bfloat16, float16 (default NEURONPEDIA_DTYPE)"
        )

    def handle(self, *args, **options):
        explainer = self._explainer(options)

        def explain_line(line: dict) -> dict:
            records = [record for records in records_by_kind(line).values() for record in records]
            maximum = line.get("max_activation")
            if maximum is not None and (isinstance(maximum, bool) or not isinstance(maximum, int | float)):
                raise ScoringInputError("'max_activation' must be a number.")
            try:
                generated = explainer.explain(records, max_activation=maximum)
            except ExplainerError as error:
                cause = error.__cause__
                if isinstance(cause, LLMError) and cause.fatal:
                    raise cause from error
                raise ScoringInputError(str(error)) from error
            return {**line, **generated.to_json()}

        try:
            with open_text(options["input"], "r") as source, open_text(options["output"], "w") as sink:
                counts = run_jsonl(source, sink, explain_line, report_error=self.stderr.write)
        except FatalLineError as error:
            raise CommandError(f"Stopped: {error}") from error
        except OSError as error:
            raise CommandError(f"Cannot read or write a file: {error}") from error
        self.stderr.write(f"Explained {counts.ok} line(s) with {explainer.name}; {counts.failed} failed.")
        if counts.failed:
            raise CommandError(f"{counts.failed} of {counts.ok + counts.failed} lines failed; see the error lines.")

    @staticmethod
    def _explainer(options):
        name = options["explainer"]
        prompt = {"prompt": options["prompt"]} if options["prompt"] else {}
        try:
            if name == "openai-compatible":
                config = llm_config(
                    base_url=options["base_url"],
                    model=options["model"],
                    api_key=options["api_key"],
                    timeout_s=options["timeout"],
                    max_retries=options["max_retries"],
                )
                return get_explainer(name, config=config, **prompt)
            if name == "local-transformers":
                return get_explainer(
                    name,
                    model_path=local_model_path(options["model_path"]),
                    seed=options["seed"],
                    max_new_tokens=options["max_new_tokens"],
                    device=options["device"] or settings.NEURONPEDIA_DEVICE,
                    dtype=options["dtype"] or settings.NEURONPEDIA_DTYPE,
                    **prompt,
                )
            return get_explainer(name)
        except (ExplainerError, LLMError) as error:
            raise CommandError(str(error)) from error
