"""Feature families end to end: match_features stores the matching of two real dictionaries on disk, the feature
page's "This feature elsewhere" panel lists counterparts with cosines and explanations, and the family page shows
how a feature splits as width grows."""

import math

import numpy as np
import pytest
import torch
from django.core.management import CommandError, call_command
from sae_lens.saes.sae import SAEMetadata
from sae_lens.saes.standard_sae import StandardSAE, StandardSAEConfig

from evaluations.models import DictionaryMatching, FeatureMatch
from explanations.services.explanations import explanation_create
from features.models import Feature, LanguageModel, Source

HOOK = "blocks.1.hook_resid_pre"
D = 32
ANGLE = math.pi / 6  # a child 30 degrees off its parent: cosine 0.866


def unit(i: int) -> np.ndarray:
    vector = np.zeros(D)
    vector[i] = 1.0
    return vector


def tilted(i: int, j: int, sign: float = 1.0) -> np.ndarray:
    return math.cos(ANGLE) * unit(i) + sign * math.sin(ANGLE) * unit(j)


# narrow: 4 features along e0..e3. wide (8): 0 splits into wide 0 and 1; 1 is copied by wide 2; 2 splits into
# wide 3 and 4; 3 is copied by wide 5; wide 6 and 7 are unlike any (e20, e21). widest (12): wide 0 splits into
# widest 0 and 1; the rest are unrelated directions (e22...).
NARROW = [unit(0), unit(1), unit(2), unit(3)]
WIDE = [tilted(0, 10), tilted(0, 10, -1), unit(1), tilted(2, 11), tilted(2, 11, -1), unit(3), unit(20), unit(21)]
WIDEST = [tilted(0, 12) * 0.9 + tilted(0, 10) * 0.1, tilted(0, 12, -1), *[unit(22 + i) for i in range(10)]]


def save_dictionary(directory, rows: list[np.ndarray], *, d: int = D, hook: str = HOOK):
    config = StandardSAEConfig(d_in=d, d_sae=len(rows), metadata=SAEMetadata(hook_name=hook, prepend_bos=False))
    sae = StandardSAE(config)
    with torch.no_grad():
        decoder = torch.tensor(np.array(rows), dtype=torch.float32) * 3.0  # norms do not matter, directions do
        sae.W_dec.copy_(decoder)
        sae.W_enc.copy_(decoder.T)
    sae.save_model(directory)
    return str(directory)


def make_model(slug: str) -> LanguageModel:
    return LanguageModel.objects.create(
        slug=slug,
        display_name=slug,
        path="/nowhere",
        architecture="gpt2",
        n_layers=2,
        d_model=D,
        d_mlp=128,
        vocab_size=10,
    )


@pytest.fixture
def model(db):
    return make_model("tiny")


def make_source(model, slug, rows, tmp_path, *, hook=HOOK, d=D) -> Source:
    path = save_dictionary(tmp_path / f"{model.slug}-{slug}", rows, d=d, hook=hook)
    layer = int(hook.split(".")[1])
    return Source.objects.create(
        model=model,
        slug=slug,
        kind=Source.Kind.SAE,
        hook_name=hook,
        layer=layer,
        set_name="res",
        dictionary_path=path,
        n_features=len(rows),
    )


@pytest.fixture
def sources(model, tmp_path):
    return {
        "narrow": make_source(model, "1-res-4", NARROW, tmp_path),
        "wide": make_source(model, "1-res-8", WIDE, tmp_path),
        "widest": make_source(model, "1-res-12", WIDEST, tmp_path),
    }


def pairs(matching, kind):
    return sorted(matching.matches.filter(kind=kind).values_list("index_a", "index_b"))


def test_the_command_stores_the_optimal_matching_and_the_splits(sources, capsys):
    # Given wide first: the narrower one becomes A all the same, so splits read from parent to child.
    call_command("match_features", "tiny/1-res-8", "tiny/1-res-4")
    matching = DictionaryMatching.objects.get()
    assert (matching.source_a, matching.source_b) == (sources["narrow"], sources["wide"])
    assert matching.relation == DictionaryMatching.Relation.WIDTH
    assert pairs(matching, FeatureMatch.Kind.SPLIT) == [(0, 0), (0, 1), (1, 2), (2, 3), (2, 4), (3, 5)]
    one_to_one = pairs(matching, FeatureMatch.Kind.ONE_TO_ONE)
    assert len(one_to_one) == 4 and {b for _, b in one_to_one} <= {0, 1, 2, 3, 4, 5}
    assert dict(one_to_one)[1] == 2 and dict(one_to_one)[3] == 5
    split = matching.matches.get(kind=FeatureMatch.Kind.SPLIT, index_b=1)
    assert split.cosine == pytest.approx(math.cos(ANGLE), abs=1e-6)
    # Copies have cosine 1, children 0.866: the mean of the optimal pairs is exactly computable.
    assert matching.mean_one_to_one_cosine == pytest.approx((2 + 2 * math.cos(ANGLE)) / 4, abs=1e-6)
    assert "4 one-to-one pairs" in capsys.readouterr().out

    # Again, the other way round and with a stricter threshold: replaced, not duplicated.
    call_command("match_features", "tiny/1-res-4", "tiny/1-res-8", "--split-threshold", "0.9")
    matching = DictionaryMatching.objects.get()
    assert pairs(matching, FeatureMatch.Kind.SPLIT) == [(1, 2), (3, 5)]
    assert FeatureMatch.objects.count() == 4 + 2


def test_layers_and_models_are_told_apart_and_mismatched_widths_refused(model, sources, tmp_path, client):
    layer_0 = make_source(model, "0-res-4", NARROW, tmp_path, hook="blocks.0.hook_resid_pre")
    call_command("match_features", "tiny/0-res-4", "tiny/1-res-4")
    assert DictionaryMatching.objects.get(source_a=layer_0).relation == DictionaryMatching.Relation.LAYER
    tuned = make_model("tiny-tuned")
    make_source(tuned, "1-res-4", NARROW, tmp_path)
    call_command("match_features", "tiny-tuned/1-res-4", "tiny/1-res-4")
    matching = DictionaryMatching.objects.get(relation=DictionaryMatching.Relation.MODEL)
    assert matching.mean_one_to_one_cosine == pytest.approx(1.0)
    # Across models the panel names the other model.
    html = client.get("/compare/tiny/elsewhere/1-res-4/2/", headers={"HX-Request": "true"}).content.decode()
    assert "tiny-tuned/1-res-4:2" in html and "cos 1.00" in html

    before = FeatureMatch.objects.count()
    mlp = make_source(model, "1-mlp-sae", [np.ones(16)] * 3, tmp_path, d=16)
    with pytest.raises(CommandError, match="different widths"):
        call_command("match_features", "tiny/1-mlp-sae", "tiny/1-res-4")
    mlp.dictionary_path = ""
    mlp.kind = Source.Kind.NEURONS
    mlp.save()
    with pytest.raises(CommandError, match="not a dictionary"):
        call_command("match_features", "tiny/1-mlp-sae", "tiny/1-res-4")
    with pytest.raises(CommandError, match="two different sources"):
        call_command("match_features", "tiny/1-res-4", "tiny/1-res-4")
    with pytest.raises(CommandError, match="no source"):
        call_command("match_features", "tiny/nope", "tiny/1-res-4")
    assert FeatureMatch.objects.count() == before  # nothing half-written


def test_the_feature_page_panel_lists_counterparts_with_cosines_and_explanations(sources, client):
    call_command("match_features", "tiny/1-res-4", "tiny/1-res-8")
    child = Feature.objects.create(source=sources["wide"], index=1)
    explanation_create(feature=child, text="cats, the animal", method="test", embed=False)
    response = client.get("/compare/tiny/elsewhere/1-res-4/0/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "This feature elsewhere" in html and "<html" not in html  # a partial for htmx
    assert "splits into" in html and "0.87" in html
    assert "cats, the animal" in html
    assert 'href="/tiny/1-res-8/1/"' in html  # its page exists
    assert 'href="/tiny/1-res-8/0/"' not in html  # no dashboards yet: its address, not a dead link

    # From the child's side: where it came from.
    html = client.get("/compare/tiny/elsewhere/1-res-8/1/", headers={"HX-Request": "true"}).content.decode()
    assert "split from" in html and "1-res-4:0" in html
    # A copy (wide 2 of narrow 1) is both the one-to-one match and the split: listed once, with both relations.
    html = client.get("/compare/tiny/elsewhere/1-res-8/2/", headers={"HX-Request": "true"}).content.decode()
    assert html.count("1-res-4:1") == 1 and "one-to-one, split from" in html and "cos 1.00" in html

    # A feature nothing matched shows no panel at all; a full page without htmx says how to compute one.
    html = client.get("/compare/tiny/elsewhere/1-res-8/7/", headers={"HX-Request": "true"}).content.decode()
    assert "This feature elsewhere" not in html and "hidden" in html
    response = client.get("/compare/tiny/elsewhere/1-res-12/3/")
    assert response.status_code == 200 and "match_features" in response.content.decode()


def test_the_family_page_shows_how_a_feature_splits_as_width_grows(sources, client):
    call_command("match_features", "tiny/1-res-4", "tiny/1-res-8")
    call_command("match_features", "tiny/1-res-8", "tiny/1-res-12")
    call_command("match_features", "tiny/1-res-4", "tiny/1-res-12")  # not the next width: not a tree level
    response = client.get("/compare/tiny/families/1-res-4/0/")
    assert response.status_code == 200
    html = response.content.decode()
    for child in ("1-res-8:0", "1-res-8:1", "1-res-12:0", "1-res-12:1"):
        assert child in html
    assert "1-res-8:2" not in html  # another feature's child
    # Nested: widest 0 and 1 sit under wide 0, inside its list.
    assert html.index("1-res-8:0") < html.index("1-res-12:0") < html.index("1-res-8:1")

    html = client.get("/compare/tiny/families/1-res-12/1/").content.decode()
    assert "It comes from" in html
    assert html.index("1-res-4:0") < html.index("1-res-8:0") < html.index("It splits into")
    # Each feature shows the cosine with its parent: none for the narrowest, 0.87 (30 degrees) for wide 0, and
    # cos^2(30 degrees) = 0.75 for the feature itself with wide 0.
    assert "cos " not in html[html.index("1-res-4:0") : html.index("1-res-8:0")]
    assert "cos 0.87" in html[html.index("1-res-8:0") : html.index("It splits into")]
    assert "cos 0.75" in html[html.index("It splits into") :]


def test_family_pages_of_unknown_features_are_not_found(sources, client):
    assert client.get("/compare/tiny/families/1-res-4/4/").status_code == 404
    assert client.get("/compare/tiny/families/nope/0/").status_code == 404
