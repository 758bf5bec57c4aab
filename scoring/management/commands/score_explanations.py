"""Score explanations from a JSONL file, with no database: see README.md, "Scoring from the command line"."""

from django.core.management.base import BaseCommand, CommandError

from scoring.core.errors import LLMError, ScoringInputError
from scoring.core.examples import DEFAULT_RELATIVE_THRESHOLD, ExampleSet
from scoring.core.formats import example_set_from_line, explanation_from_line, rule_from_spec, verdicts_from_json
from scoring.core.jsonl import FatalLineError, open_text, run_jsonl
from scoring.core.llm import ChatClient
from scoring.core.llm_judge import LLMJudge
from scoring.core.offline_judges import DEFAULT_JUDGE, JUDGE_NAMES, offline_judge
from scoring.core.scorers import SCORERS, get_scorer


class Command(BaseCommand):
    help = (
        'Score explanations: each input line is {"explanation": str, "records": [{"tokens": [...], '
        '"activations": [...]}], "negatives": [...] (optional)}; each output line adds "score", "scorer", '
        '"details" and "example_mix", or is {"line": N, "error": ...}. Exits with status 1 if any line failed.'
    )
    requires_system_checks = []  # no database, no models: usable anywhere the code is

    def add_arguments(self, parser):
        parser.add_argument("--scorer", required=True, choices=sorted(SCORERS))
        parser.add_argument("--input", required=True, help="JSONL file, or - for stdin")
        parser.add_argument("--output", required=True, help="JSONL file, or - for stdout")
        parser.add_argument(
            "--judge",
            choices=JUDGE_NAMES,
            default=DEFAULT_JUDGE,
            help="Who simulates/judges for simulation, detection and fuzzing: semantic (default), literal, an LLM",
        )
        parser.add_argument(
            "--model-path",
            default="",
            help="local-transformers judge: a causal LM's directory (default: LOCAL_EXPLAINER_MODEL_PATH)",
        )
        parser.add_argument("--simulation-mode", choices=("json", "logprobs"), default="json")
        parser.add_argument("--base-url", default="", help="LLM endpoint (default: OPENAI_BASE_URL)")
        parser.add_argument("--model", default="", help="LLM name (default: OPENAI_MODEL)")
        parser.add_argument("--api-key", default="", help="LLM key (default: OPENAI_API_KEY)")
        parser.add_argument("--timeout", type=float, default=None, help="Seconds per LLM request")
        parser.add_argument("--max-retries", type=int, default=None)
        parser.add_argument(
            "--hard-negatives",
            type=int,
            default=20,
            help="Hard negatives to mine from a line's silent records when it gives none (0: none)",
        )
        parser.add_argument(
            "--threshold",
            type=float,
            default=DEFAULT_RELATIVE_THRESHOLD,
            help="Active means above this fraction of the feature's maximum (default 0.1)",
        )
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options):
        scorer = get_scorer(options["scorer"])
        llm_judge = None
        if options["judge"] == "openai-compatible" and scorer.uses_judge:
            from scoring.llm_settings import llm_config

            try:
                config = llm_config(
                    base_url=options["base_url"],
                    model=options["model"],
                    api_key=options["api_key"],
                    timeout_s=options["timeout"],
                    max_retries=options["max_retries"],
                )
            except LLMError as error:
                raise CommandError(str(error)) from error
            llm_judge = LLMJudge(ChatClient(config), simulation_mode=options["simulation_mode"])
        elif options["judge"] in ("local-transformers", "learned") and scorer.uses_judge:
            from scoring.services.backends import judge_build

            try:
                llm_judge = judge_build(params={"judge": options["judge"], "local_model_path": options["model_path"]})
            except ScoringInputError as error:
                raise CommandError(str(error)) from error

        def score_line(line: dict) -> dict:
            explanation = explanation_from_line(line)
            rule = rule_from_spec(line["rule"]) if line.get("rule") is not None else None
            verdicts = verdicts_from_json(line["verdicts"]) if "verdicts" in line else None
            if scorer.name == "human":
                examples = ExampleSet()
            else:
                examples = example_set_from_line(
                    line,
                    n_hard_negatives=options["hard_negatives"],
                    relative_threshold=options["threshold"],
                    seed=options["seed"],
                )
            judge = llm_judge or offline_judge(options["judge"], rule=rule)
            result = scorer.score(explanation, examples, judge=judge, rule=rule, verdicts=verdicts)
            return {**line, **result.to_json()}

        counts = self._run(options, score_line)
        self.stderr.write(f"Scored {counts.ok} line(s) with {scorer.name}; {counts.failed} failed.")
        if counts.failed:
            raise CommandError(f"{counts.failed} of {counts.ok + counts.failed} lines failed; see the error lines.")

    def _run(self, options, handle_line):
        try:
            with open_text(options["input"], "r") as source, open_text(options["output"], "w") as sink:
                return run_jsonl(
                    source, sink, handle_line, report_error=self.stderr.write, expected_errors=(ScoringInputError,)
                )
        except FatalLineError as error:
            raise CommandError(f"Stopped: {error}") from error
        except OSError as error:
            raise CommandError(f"Cannot read or write a file: {error}") from error
