"""Hand-built connections on a hand-built model (no model run), for the panel's and the API's tests."""

from circuits.models import FeatureCoactivation, FeatureConnection
from features.models import Feature, LanguageModel, PipelineRun, Source


def connected_toy() -> dict:
    """Model `toy`: 0-mlp (neurons), 1-res (an SAE, 4 features); 0-mlp/2 writes to 1-res/0 (+0.5) and 1-res/1 (-0.9);
    1-res/0 fires with 1-res/3 (Jaccard 0.4) and 1-res/1 (0.2). A succeeded CONNECTIONS run computed them."""
    model = LanguageModel.objects.create(
        slug="toy", display_name="Toy", path="/nonexistent", architecture="gpt2", n_layers=2, d_model=4, d_mlp=8,
        vocab_size=10,
    )  # fmt: skip
    neurons = Source.objects.create(
        model=model, slug="0-mlp", kind="neurons", hook_name="blocks.0.mlp.hook_post", layer=0, set_name="mlp",
        n_features=8,
    )  # fmt: skip
    sae = Source.objects.create(
        model=model, slug="1-res", kind="sae", hook_name="blocks.1.hook_resid_pre", layer=1, set_name="res",
        n_features=4,
    )  # fmt: skip
    features = {
        (source.slug, index): Feature.objects.create(source=source, index=index, max_activation=1.0, density=0.1)
        for source, count in ((neurons, 8), (sae, 4))
        for index in range(count)
    }
    run = PipelineRun.objects.create(
        kind=PipelineRun.Kind.CONNECTIONS, model=model, status=PipelineRun.Status.SUCCEEDED, params={"tokens": 100}
    )
    writer = features[("0-mlp", 2)]
    for index, weight in ((0, 0.5), (1, -0.9), (2, 0.1)):
        FeatureConnection.objects.create(upstream=writer, downstream=features[("1-res", index)], weight=weight, run=run)
    reader = features[("1-res", 0)]
    for index, jaccard in ((3, 0.4), (1, 0.2)):
        FeatureCoactivation.objects.create(
            feature=reader, other=features[("1-res", index)], jaccard=jaccard, lift=3.0, together=8,
            feature_fires=12, other_fires=16, tokens=100, run=run,
        )  # fmt: skip
    return {"model": model, "features": features, "run": run}
