"""Drives a server with the official `neuronpedia` client (pinned in requirements-dev.txt), unmodified.

Run as a separate process, `python -P tests/api/neuronpedia_client_driver.py SCENARIO`, because this project's
settings package is also called `neuronpedia` and would shadow the client inside the test process (-P keeps
the script's directory, and so the repository, off sys.path). NP_BASE_URL is the server's /api/ URL;
NEURONPEDIA_API_KEY is read by the client itself. Prints one JSON object: what the client returned, or the
name of the exception it raised.
"""

import json
import os
import sys

from neuronpedia.np_activation import Activation
from neuronpedia.np_explanation import Explanation
from neuronpedia.np_feature import Feature, Logit
from neuronpedia.np_list import NPList, NPListItem
from neuronpedia.np_model import Model
from neuronpedia.np_source_set import SourceSet
from neuronpedia.requests.activation_request import ActivationRequest
from neuronpedia.requests.base_request import NPRequest
from neuronpedia.requests.feature_request import FeatureRequest
from neuronpedia.requests.source_activation_request import SourceActivationRequest
from neuronpedia.requests.topk_by_token_request import TopKByTokenRequest

TEXT = "The black cat sat on the warm mat."


def feature(model: str, source: str, index: str) -> dict:
    got = FeatureRequest().get(model, source, int(index))
    return {
        "modelId": got.modelId,
        "source": got.source,
        "index": int(got.index),
        "density": got.density,
        "explanations": [e.text for e in got.explanations],
        "activations": [
            {"tokens": a.tokens, "values": a.values, "quantileFraction": a.quantileFraction} for a in got.activations
        ],
    }


def activations() -> dict:
    one = ActivationRequest().compute_activation_for_text("tiny-bert", "0-mlp", 5, TEXT)
    both = ActivationRequest().compute_activation_for_texts("tiny-bert", "0-mlp", "5", [TEXT, "dogs bark"])
    return {"one": {"tokens": one.tokens, "values": one.values}, "both": [{"tokens": a.tokens, "values": a.values}
                                                                          for a in both]}  # fmt: skip


def search() -> dict:
    found = SourceActivationRequest().compute_top_features_for_text("tiny-bert", "0-mlp", TEXT, num_results=4)
    batches = SourceActivationRequest().compute_top_features_for_texts(
        "tiny-bert", ["0-mlp", "2-mlp"], [TEXT, "cats"], num_results=3
    )
    by_token = TopKByTokenRequest().compute_top_features_by_token_for_text("tiny-bert", "2-mlp", TEXT, num_results=2)
    return {
        "found": [{"source": a.source, "index": a.index, "tokens": a.tokens, "values": a.values} for a in found],
        "batches": [len(batch) for batch in batches],
        "by_token": [[f.feature.index for f in result.topFeatures] for result in by_token],
    }


def lists() -> dict:
    created = NPList.new("cats", "feline features")
    created = created.add_items(
        [
            NPListItem(model_id="tiny-bert", source="0-mlp", index="5", description="w"),
            NPListItem(model_id="tiny-bert", source="2-mlp", index="7"),
        ]
    )
    fetched = NPList.get(created.id)
    return {
        "added": [(item.source, str(item.index)) for item in created.items],
        "fetched": {"name": fetched.name, "items": [str(item.index) for item in fetched.items]},
        "owned": [entry.id for entry in NPList.get_owned()],
        "id": created.id,
    }


def upload() -> dict:
    model = Model.new(id="pup-xl", layers=3, display_name="Puppy Model XL")
    SourceSet.new(model_id="pup-xl", name="puppyscope-res-2k")
    source = SourceSet.get(model_id="pup-xl", name="puppyscope-res-2k").get_source_for_layer_number(1)
    dog = Feature(modelId="pup-xl", source=source.id, index=0, density=0.03,
                  top_logits=[Logit("dog", 0.9), Logit("cat", 0.7)], bottom_logits=[Logit("car", -1.1)])  # fmt: skip
    dog.activations = [
        Activation(modelId="pup-xl", source=source.id, index=0, tokens=["my", " border", " collie"],
                   values=[0, 2.5, 5.3], quantileMax=6, quantileMin=5, quantileFraction=0.1),
        Activation(modelId="pup-xl", source=source.id, index=0, tokens=["the", " golden", " retriever"],
                   values=[0.2, 3.1, 4.8], quantileMax=5, quantileMin=4, quantileFraction=0.05),
    ]  # fmt: skip
    dog.explanations = [Explanation(modelId="pup-xl", source=source.id, index=0, text="magic dog")]
    cat = Feature(modelId="pup-xl", source=source.id, index=1, density=0.05)
    cat.activations = [Activation(modelId="pup-xl", source=source.id, index=1, tokens=["my", " tabby", " cat"],
                                  values=[0, 1.5, 3.2])]  # fmt: skip
    cat.explanations = [Explanation(modelId="pup-xl", source=source.id, index=1, text="cats")]
    uploaded = source.upload_batch([dog, cat])
    extra = Activation(modelId="pup-xl", source=source.id, index=1, tokens=["a", " cat"], values=[0.1, 6.0])
    appended = ActivationRequest().upload_batch("pup-xl", source.id, "1", [extra])
    return {
        "model": [model.id, model.layers],
        "source": source.id,
        "uploaded": uploaded,
        "appended": appended,
        "dog": feature("pup-xl", source.id, "0"),
        "cat": feature("pup-xl", source.id, "1"),
    }


def error(model: str, source: str, index: str) -> dict:
    try:
        FeatureRequest().get(model, source, int(index))
    except Exception as raised:  # noqa: BLE001 - reporting which one is the point
        return {"raised": type(raised).__name__, "message": str(raised)}
    return {"raised": None}


SCENARIOS = {"feature": feature, "activations": activations, "search": search, "lists": lists, "upload": upload,
             "error": error}  # fmt: skip

if __name__ == "__main__":
    NPRequest.BASE_URL = os.environ["NP_BASE_URL"]
    name, *arguments = sys.argv[1:]
    print(json.dumps(SCENARIOS[name](*arguments)))
