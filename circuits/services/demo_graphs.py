"""The demo's graphs (front's build_demo): a few attribution graphs of a dictionary's features whose explanation
is clear, each on a prompt cut from the feature's own top example so that the feature fires at its end.

"Clear" is read from the stored dashboard, not from the explainer's text: a feature whose top examples peak on
one and the same token (most of them) is one that a reader, and the token-statistics explainer, can name; the most
consistent come first, then the strongest. They need not be explained yet (build_demo's explain runs end after
the site is up); a graph's page shows each node's explanation as it stands when the page is read.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from explanations.models import Explanation
from features.inference import load_model
from features.models import ActivationExample, Feature, LanguageModel, Source
from features.pipeline.corpus import DOCUMENT_BREAK

from ..models import Graph
from .graphs import GraphInputError, graph_compute, graph_run_create

MIN_SHARE = 0.6  # of its top examples that peak on its commonest token
MIN_EXAMPLES = 4
PROMPT_TOKENS = 12  # content tokens before and including the peak: a graph of this size takes seconds on a CPU
CANDIDATES = 40  # features looked at, the strongest explained ones
DEMO_NODES = 200
SPECIAL = {"[CLS]", "[SEP]", "[PAD]", "<s>", "</s>", "<|endoftext|>"}


@dataclass
class DemoTarget:
    feature: Feature
    explanation: str
    token: str
    share: float
    prompt: str


def _peak_share(examples: list[ActivationExample]) -> tuple[str, float]:
    peaks = [e.window.tokens[e.max_token_index].strip().lower() for e in examples]
    token, count = Counter(peaks).most_common(1)[0]
    return token, count / len(peaks)


def _prompt(example: ActivationExample) -> str:
    """The example's text up to and including its peak token (at most PROMPT_TOKENS content tokens), as the
    tokenizer's display strings join (a leading space marks a new word)."""
    tokens = example.window.tokens[: example.max_token_index + 1]
    if DOCUMENT_BREAK in tokens:  # one document only: from the last break before the peak
        tokens = tokens[len(tokens) - tokens[::-1].index(DOCUMENT_BREAK) :]
    content = [t for t in tokens if t not in SPECIAL][-PROMPT_TOKENS:]
    return "".join(content).strip()


def last_content_position(model: LanguageModel, prompt: str) -> int:
    """Where the prompt's last content token sits once graph_plan frames it (a special token first, and an
    encoder's [SEP] last)."""
    tokenizer = load_model(model).tokenizer
    ids = list(tokenizer(prompt, verbose=False)["input_ids"])
    special = set(tokenizer.all_special_ids)
    offset = 0 if ids and ids[0] in special else 1
    return offset + max((p for p, i in enumerate(ids) if i not in special), default=0)


def demo_graph_targets(source: Source, *, count: int = 3) -> list[DemoTarget]:
    # Explained or not: build_demo computes the graphs before its explain runs are done (they are queued after
    # the site is up), and a graph's page shows each node's explanation as it is when the page is read.
    strongest = Feature.objects.filter(source=source, max_activation__gt=0).order_by("-max_activation")[:CANDIDATES]
    chosen = []
    for feature in strongest:
        examples = list(
            ActivationExample.objects.filter(feature=feature, kind=ActivationExample.Kind.TOP)
            .select_related("window")
            .order_by("rank")[:10]
        )
        if len(examples) < MIN_EXAMPLES:
            continue
        token, share = _peak_share(examples)
        prompt = _prompt(examples[0])
        if share < MIN_SHARE or not token or not prompt:
            continue
        explanation = Explanation.objects.visible().best_first().filter(feature=feature).first()
        chosen.append(DemoTarget(feature, explanation.text if explanation else "", token, share, prompt))
    chosen.sort(key=lambda t: (-t.share, -t.feature.max_activation))
    return chosen[:count]


def demo_graphs_build(*, source: Source, count: int = 3, say: Callable[[str], None] = print) -> list[Graph]:
    """Compute (in this process) a graph for each chosen feature, ending at the feature on the last content
    token of its prompt; one already built (by slug) is kept. A target that cannot be computed is skipped with
    the reason."""
    model = source.model
    graphs = []
    targets = demo_graph_targets(source, count=count)
    if not targets:
        say(f"No feature of {source} peaks on one token in most of its top examples: no demo graph.")
    for target in targets:
        slug = f"demo-{source.slug}-{target.feature.index}"
        existing = Graph.objects.filter(model=model, slug=slug).first()
        if existing is not None:
            graphs.append(existing)
            continue
        title = f"Why {source.slug}:{target.feature.index} fires on “{target.token}”"
        try:
            position = last_content_position(model, target.prompt)
            run = graph_run_create(
                model=model,
                prompt=target.prompt,
                target=f"{source.slug}:{target.feature.index}@{position}",
                max_nodes=DEMO_NODES,
                slug=slug,
                title=title,
                sync=True,
            )
        except GraphInputError as error:
            say(f"Skipped {target.feature}: {error}")
            continue
        graph = graph_compute(run_id=run.pk)
        if graph is None:
            run.refresh_from_db()
            say(f"Skipped {target.feature}: {run.error}")
            continue
        if target.explanation:
            graph.description = f"{source.slug}:{target.feature.index} is explained as “{target.explanation}”."
            graph.save(update_fields=["description", "updated_at"])
        say(f"Graph {graph.get_absolute_url()}: {len(graph.data['nodes'])} nodes, prompt {target.prompt!r}")
        graphs.append(graph)
    return graphs
