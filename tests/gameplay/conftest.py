"""Players, a hand-built feature with known activations (no model needed) and helpers to play rounds
through the views.

The toy feature's model has no checkpoint; its "live inference" on held-out windows is the planted rule
itself (`toy_inference`, for every test here), so rounds built from held-out windows have known answers."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from explanations.services import explanations as explanation_services
from features import inference
from features.models import ActivationExample, ContextWindow, Feature, LanguageModel, Source, pack_floats
from gameplay.models import PlayerProfile, Round, RoundItem


@pytest.fixture(autouse=True)
def fresh_cache():
    """Rate limits and cached inference values never leak from one test into the next."""
    cache.clear()
    yield
    cache.clear()


def make_user(username: str, **fields):
    return get_user_model().objects.create_user(
        username=username, email=f"{username}@example.com", password="pw", **fields
    )


def make_player(username: str, *, graduated: bool = True, **profile_fields):
    """A user whose profile has passed the training camp (unless `graduated=False`)."""
    user = make_user(username)
    PlayerProfile.objects.create(user=user, camp_graduated=graduated, **profile_fields)
    return user


@pytest.fixture
def rookie(db):
    return make_player("rookie", graduated=False)


@pytest.fixture
def player(db):
    return make_player("player")


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# A feature that fires on "cat" right after a colour word, with activations we chose: top windows, interval
# samples, and windows where "cat" appears silent (the look-alikes). The maximum is 1.7, so 0-10 values
# come out with odd decimals that no other number on a page shares.
MAX_ACTIVATION = 1.7
TOP_TEXTS = [
    ("the black cat sat on the mat .", 1.7),
    ("a white cat ran home quickly .", 1.61),
    ("my grey cat purrs all day .", 1.53),
    ("one ginger cat and the cat food .", 1.44),  # the second cat is silent
    ("that brown cat slept in the sun .", 1.31),
    ("her red cat jumped over a wall .", 1.27),
]
INTERVAL_TEXTS = [
    ("a tabby cat was seen near here .", 0.93),
    ("the golden cat came back .", 0.71),
    ("see the cat on the roof .", 0.0),  # silent cat: a look-alike
    ("cat food is cheap these days .", 0.0),  # silent cat
    ("feed the cat twice a day .", 0.0),  # silent cat
    ("the old dog barked at night .", 0.0),
    ("a black cat and a white dog .", 1.1),
    ("the grey cat sleeps .", 0.52),
    ("my cat is here now .", 0.0),  # silent cat
    ("the red car drove past .", 0.0),
]
COLOURS = {"black", "white", "grey", "ginger", "brown", "red", "tabby", "golden"}
# Stored windows of the same model that the feature's page does not show: where Predict and Verify cards come
# from. The live value of a cat after a colour depends on the colour (COLOUR_VALUES); plain cats are silent.
HELD_OUT_TEXTS = [
    "the black cat hid under the bed .",
    "a white cat sat by the door .",
    "our grey cat likes warm milk .",
    "the tabby cat chased a bird .",
    "one golden cat slept all night .",
    "a ginger cat and a brown dog .",
    "the brown cat ate its dinner .",
    "his red cat climbed the tree .",
    "the cat ran out of the house .",  # silent cats: look-alikes
    "a cat and a dog played .",
    "buy cat toys at the shop .",
    "this cat is very old .",
    "the sun rose over the hills .",  # nothing for this feature
    "we walked along the river .",
    "a bird sang in the tree .",
    "the train left on time .",
    "she read a long book .",
    "rain fell all day long .",
]
COLOUR_VALUES = {"black": 1.49, "white": 1.37, "grey": 1.21, "tabby": 0.73, "golden": 0.62, "red": 0.53,
                 "ginger": 0.41, "brown": 0.29}  # fmt: skip
TOY_MODEL_PATH = "/nonexistent/model"
SPECIAL = ("[CLS]", "[SEP]")
_vocabulary: dict[str, int] = {}


def toy_token_ids(tokens: list[str]) -> list[int]:
    return [_vocabulary.setdefault(token, len(_vocabulary)) for token in tokens]


def toy_live_values(tokens: list[str]) -> list[float]:
    """What live inference gives on a toy window: the planted rule, with a value per colour."""
    return [
        COLOUR_VALUES[tokens[i - 1]] if token == "cat" and i > 0 and tokens[i - 1] in COLOURS else 0.0
        for i, token in enumerate(tokens)
    ]


@pytest.fixture(autouse=True)
def toy_inference(monkeypatch):
    """Live inference on the toy model (which has no checkpoint) is its planted rule; other models run."""
    real = inference.feature_activations_on_windows

    def fake(feature, windows, **options):
        if feature.source.model.path != TOY_MODEL_PATH:
            return real(feature, windows, **options)
        words = {i: token for token, i in _vocabulary.items()}
        results = []
        for token_ids in windows:
            tokens = [words[i] for i in token_ids]
            results.append(
                inference.WindowActivations(
                    values=toy_live_values(tokens) if feature.index == 0 else [0.0] * len(tokens),
                    content=[token not in SPECIAL for token in tokens],
                )
            )
        return results

    monkeypatch.setattr(inference, "feature_activations_on_windows", fake)


def _values(tokens: list[str], value: float) -> list[float]:
    """`value` on each cat right after a colour, 0 elsewhere (special tokens included)."""
    return [value if t == "cat" and i > 0 and tokens[i - 1] in COLOURS else 0.0 for i, t in enumerate(tokens)]


def build_toy_feature(*, slug: str = "toy", index: int = 0) -> Feature:
    model = LanguageModel.objects.create(
        slug=slug, display_name=slug, path=TOY_MODEL_PATH, architecture="bert", n_layers=1, d_model=4, d_mlp=8,
        vocab_size=1000,
    )  # fmt: skip
    source = Source.objects.create(
        model=model, slug="0-mlp", kind="neurons", hook_name="blocks.0.mlp.hook_post", layer=0, set_name="mlp",
        n_features=8,
    )  # fmt: skip
    feature = Feature.objects.create(source=source, index=index, max_activation=MAX_ACTIVATION, density=0.01)
    Feature.objects.create(source=source, index=index + 1, max_activation=1.0)
    position = 0
    for kind, texts in (("top", TOP_TEXTS), ("interval", INTERVAL_TEXTS)):
        for rank, (text, value) in enumerate(texts):
            tokens = ["[CLS]", *text.split(), "[SEP]"]
            window = ContextWindow.objects.create(
                model=model, corpus_key="toy", position=position, token_ids=toy_token_ids(tokens), tokens=tokens
            )
            position += 1
            values = _values(tokens, value)
            if kind == "interval" and max(values) == 0:
                values[1] = 0.05  # a faint value, below a tenth of the maximum
            ActivationExample.objects.create(
                feature=feature, window=window, kind=kind, rank=rank, values=pack_floats(values),
                max_value=max(values), max_token_index=values.index(max(values)),
                interval_index=None if kind == "top" else 0, bin_min=None if kind == "top" else 0.0,
                bin_max=None if kind == "top" else MAX_ACTIVATION,
            )  # fmt: skip
    for text in HELD_OUT_TEXTS:
        tokens = ["[CLS]", *text.split(), "[SEP]"]
        ContextWindow.objects.create(
            model=model, corpus_key="toy", position=position, token_ids=toy_token_ids(tokens), tokens=tokens
        )
        position += 1
    return Feature.objects.select_related("source__model").get(pk=feature.pk)


@pytest.fixture
def toy_feature(db) -> Feature:
    return build_toy_feature()


@pytest.fixture
def alice_explanation(toy_feature):
    alice = make_player("alice")
    return explanation_services.explanation_create(
        feature=toy_feature, author=alice, text="the word cat right after a colour word", embed=False
    )


def round_of(response) -> Round:
    """The round a start view redirected to."""
    match = re.search(r"/play/round/(\d+)/", response["Location"])
    assert match, response["Location"]
    return Round.objects.get(pk=int(match.group(1)))


def items_of(round_obj: Round) -> list[RoundItem]:
    return list(RoundItem.objects.filter(round=round_obj).order_by("position"))


def answer_url(round_obj: Round, item: RoundItem) -> str:
    return f"/play/round/{round_obj.pk}/answer/{item.position}/"


def play_predict_round(client: Client, round_obj: Round, guess=lambda item: item.truth) -> list:
    """Answer every card; `guess(item)` says what (the test may read the truth: players cannot)."""
    responses = []
    for item in items_of(round_obj):
        responses.append(client.post(answer_url(round_obj, item), {"guess": guess(item)}))
    return responses
