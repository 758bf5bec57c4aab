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
    O(chunk x vocab)."""
    top_ids, top_values, bottom_ids, bottom_values = [], [], [], []
    unembedding = unembedding.float()
    with torch.inference_mode():
        for start in range(0, len(directions), chunk):
            logits = directions[start : start + chunk].float() @ unembedding
            top = logits.topk(k, dim=1)
            bottom = logits.topk(k, dim=1, largest=False)
            top_ids.append(top.indices)
            top_values.append(top.values)
            bottom_ids.append(bottom.indices)
            bottom_values.append(bottom.values)
    return (
        TokenScores(torch.cat(top_ids), torch.cat(top_values)),
        TokenScores(torch.cat(bottom_ids), torch.cat(bottom_values)),
    )


def similar_features(directions: torch.Tensor, k: int = 10, chunk: int = 2048) -> TokenScores:
    """The k most similar other features of each feature by cosine similarity of directions [F, d]."""
    normed = torch.nn.functional.normalize(directions.float(), dim=1)
    k = min(k, len(directions) - 1)
    ids, values = [], []
    with torch.inference_mode():
        for start in range(0, len(normed), chunk):
            similarity = normed[start : start + chunk] @ normed.T
            rows = torch.arange(similarity.shape[0])
            similarity[rows, rows + start] = float("-inf")  # a feature is not similar to itself
            best = similarity.topk(k, dim=1)
            ids.append(best.indices)
            values.append(best.values)
    return TokenScores(torch.cat(ids), torch.cat(values))
