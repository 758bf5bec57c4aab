"""Per-feature output logits and similar features, from each feature's output direction."""

from dataclasses import dataclass

import torch


@dataclass
class TokenScores:
    ids: torch.Tensor  # [F, k]
    values: torch.Tensor  # [F, k]


def logit_effects(
    directions: torch.Tensor, unembedding: torch.Tensor, k: int = 10, chunk: int = 2048
) -> tuple[TokenScores, TokenScores]:
    """Top positive and negative entries of directions [F, d] @ W_U [d, vocab], chunked so memory stays
    O(chunk x vocab). Computed in float32 on W_U's device (a bfloat16 model's too); the results are on the CPU."""
    top_ids, top_values, bottom_ids, bottom_values = [], [], [], []
    unembedding = unembedding.float()
    with torch.inference_mode():
        for start in range(0, len(directions), chunk):
            logits = directions[start : start + chunk].to(unembedding) @ unembedding
            top = logits.topk(k, dim=1)
            bottom = logits.topk(k, dim=1, largest=False)
            top_ids.append(top.indices.cpu())
            top_values.append(top.values.cpu())
            bottom_ids.append(bottom.indices.cpu())
            bottom_values.append(bottom.values.cpu())
    return (
        TokenScores(torch.cat(top_ids), torch.cat(top_values)),
        TokenScores(torch.cat(bottom_ids), torch.cat(bottom_values)),
    )


def similar_features(directions: torch.Tensor, k: int = 10, chunk: int = 2048) -> TokenScores:
    """The k most similar other features of each feature by cosine similarity of directions [F, d], computed in
    float32 on their device; the results are on the CPU."""
    normed = torch.nn.functional.normalize(directions.float(), dim=1)
    k = min(k, len(directions) - 1)
    ids, values = [], []
    with torch.inference_mode():
        for start in range(0, len(normed), chunk):
            similarity = normed[start : start + chunk] @ normed.T
            rows = torch.arange(similarity.shape[0], device=similarity.device)
            similarity[rows, rows + start] = float("-inf")  # a feature is not similar to itself
            best = similarity.topk(k, dim=1)
            ids.append(best.indices.cpu())
            values.append(best.values.cpu())
    return TokenScores(torch.cat(ids), torch.cat(values))
