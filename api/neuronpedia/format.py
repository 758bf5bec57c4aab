"""Neuronpedia's rows, both ways: the columns of its data dumps (utils/neuronpedia-utils/export-data.py in
Neuronpedia's repository, one Prisma table row per line) and what its API and Python client read.

A dump of one source is a directory:

    model.jsonl, source.jsonl, sourceset.jsonl    one row each (Model, Source, SourceSet)
    features/batch-N.jsonl.gz                     Neuron rows, 1,024 features a batch, by index
    activations/batch-N.jsonl.gz                  Activation rows of those 1,024 features
    explanations/batch-N.jsonl.gz                 Explanation rows, 1,024 a batch

How our data maps onto theirs (and back, on import):
- Neuron: maxActApprox = max_activation, frac_nonzero = density; pos_str/pos_values and neg_str/neg_values
  are the top and bottom output logits (token strings and values; the token ids are not carried);
  topkCosSimIndices/Values the most similar features; freq_hist_data_bar_heights the activation
  histogram's counts and freq_hist_data_bar_values the centres of its bars. `index` is a string, as in
  Neuronpedia's database.
- Activation: top examples have binMin = binMax = binContains = -1 (what Neuronpedia's page shows as
  "Top"); interval samples carry their interval's bounds and share. Values are float32.
- Explanation: description is the current revision's text, typeName the explainer method, explanation-
  ModelName the LLM it used. Human authors are not exported (authorId is NEURONPEDIA_EXPORT_CREATOR_ID,
  as in Neuronpedia's own exports); imported explanations without a typeName are recorded with the
  method IMPORTED_METHOD, which exports as no typeName again.
- Row ids (Neuronpedia's are cuids) are `<model>/<source>/<index>/<n>`: stable across export, import and
  export again. Nothing time-dependent is written, so an export is a function of the data.

Parsing functions raise RowError with a message that names the field; the importer adds file and line.

Pure Python (numpy and orjson, no Django import): the layout alone. Reading and writing the database is
dump_export.py's and dump_import.py's (and the API's feature row, features.py's).
"""

import hashlib
import math
from typing import Any

import numpy as np
import orjson

IMPORTED_METHOD = "neuronpedia-import"
TOP_BIN = -1.0
BATCH_SIZE = 1024
MAX_INDEX = 2**31 - 1
MAX_TOKENS = 65_536


class RowError(ValueError):
    pass


# --- Writing -----------------------------------------------------------------------------------------


def model_row(model, creator_id: str) -> dict:
    return {
        "id": model.slug,
        "displayName": model.display_name,
        "displayNameShort": model.display_name,
        "creatorId": creator_id,
        "tlensId": None,
        "dimension": model.d_model or None,
        "visibility": "PUBLIC",
        "inferenceEnabled": False,
        "instruct": False,
        "layers": model.n_layers,
        "neuronsPerLayer": model.d_mlp,
        "owner": "",
        "website": None,
    }


SAELENS_CONFIG_KEYS = ("architecture", "d_in", "d_sae", "hook_name_out", "prepend_bos")


def source_row(source, creator_id: str) -> dict:
    config = None
    if source.kind != "neurons":
        config = {key: source.config[key] for key in SAELENS_CONFIG_KEYS if key in source.config}
        config["hook_name"] = source.hook_name
        config["kind"] = source.kind
    return {
        "id": source.slug,
        "modelId": source.model.slug,
        "setName": source.set_name,
        "hasDashboards": True,
        "inferenceEnabled": False,
        "saelensConfig": config,
        "saelensRelease": None,
        "saelensSaeId": None,
        "hfRepoId": None,
        "hfFolderId": None,
        "visibility": "PUBLIC",
        "creatorId": creator_id,
        "num_prompts": None,
        "num_tokens_in_prompt": None,
        "dataset": None,
        "notes": None,
    }


def sourceset_row(source, creator_id: str) -> dict:
    return {
        "modelId": source.model.slug,
        "name": source.set_name,
        "hasDashboards": True,
        "allowInferenceSearch": False,
        "visibility": "PUBLIC",
        "description": "",
        "type": "",
        "creatorName": creator_id,
        "urls": [],
        "creatorEmail": None,
        "creatorId": creator_id,
        "releaseName": None,
    }


def _histogram_columns(histogram: dict | None) -> tuple[list, list]:
    if not histogram or not histogram.get("counts"):
        return [], []
    width = histogram["bin_width"]
    start = histogram.get("start", 0.0)
    values = [start + (position + 0.5) * width for position in range(len(histogram["counts"]))]
    return list(histogram["counts"]), values


def feature_row(*, model_slug: str, source_slug: str, set_name: str, hook_name: str, feature: dict, creator_id: str):
    """A Neuron row. `feature` has index, max_activation, density, histogram, top_logits, bottom_logits, similar."""
    heights, bar_values = _histogram_columns(feature.get("histogram"))
    top = feature.get("top_logits") or []
    bottom = feature.get("bottom_logits") or []
    similar = feature.get("similar") or []
    return {
        "modelId": model_slug,
        "layer": source_slug,
        "index": str(feature["index"]),
        "maxActApprox": feature["max_activation"],
        "creatorId": creator_id,
        "frac_nonzero": feature["density"],
        "freq_hist_data_bar_heights": heights,
        "freq_hist_data_bar_values": bar_values,
        "logits_hist_data_bar_heights": [],
        "logits_hist_data_bar_values": [],
        "neuron_alignment_indices": [],
        "neuron_alignment_l1": [],
        "neuron_alignment_values": [],
        "correlated_neurons_indices": [],
        "correlated_neurons_l1": [],
        "correlated_neurons_pearson": [],
        "decoder_weights_dist": [],
        "neg_str": [logit["token"] for logit in bottom],
        "neg_values": [logit["value"] for logit in bottom],
        "pos_str": [logit["token"] for logit in top],
        "pos_values": [logit["value"] for logit in top],
        "sourceSetName": set_name,
        "topkCosSimIndices": [item["index"] for item in similar],
        "topkCosSimValues": [item["similarity"] for item in similar],
        "vector": [],
        "vectorLabel": None,
        "hookName": hook_name or None,
        "vectorDefaultSteerStrength": 10,
        "hasVector": False,
    }


def activation_row(
    *, model_slug: str, source_slug: str, index: int, number: int, example, tokens_json: bytes, creator_id: str
) -> dict:
    """An Activation row for one example (exports.Example); `number` is its place among its feature's rows."""
    values = example.values
    is_top = example.kind == "top"
    return {
        "id": f"{model_slug}/{source_slug}/{index}/{number}",
        "modelId": model_slug,
        "layer": source_slug,
        "index": str(index),
        "creatorId": creator_id,
        "dataSource": None,
        "tokens": orjson.Fragment(tokens_json),
        "maxValue": example.max_value,
        "minValue": float(values.min()) if len(values) else 0.0,
        "values": values,
        "maxValueTokenIndex": example.max_token_index,
        "dfaValues": [],
        "dfaMaxValue": None,
        "dfaTargetIndex": None,
        "binContains": TOP_BIN if is_top else example.bin_contains,
        "binMin": TOP_BIN if is_top else example.bin_min,
        "binMax": TOP_BIN if is_top else example.bin_max,
    }


def explanation_row(*, model_slug: str, source_slug: str, index: int, number: int, row: dict, creator_id: str) -> dict:
    """An Explanation row from exports.explanation_batches' row; `number` is its place among its feature's."""
    method = row["method"] or None
    return {
        "id": f"{model_slug}/{source_slug}/{index}/{number}",
        "modelId": model_slug,
        "layer": source_slug,
        "index": str(index),
        "authorId": creator_id,
        "description": row["current_revision__text"],
        "embedding": None,
        "typeName": None if method == IMPORTED_METHOD else method,
        "explanationModelName": row["explainer_model"] or None,
        "umap_x": None,
        "umap_y": None,
        "umap_cluster": None,
        "umap_log_feature_sparsity": None,
    }


def dumps_row(row: dict) -> bytes:
    return orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)


# --- Reading -----------------------------------------------------------------------------------------


def parse_line(line: bytes) -> dict:
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise RowError(f"not JSON ({error})") from None
    if not isinstance(row, dict):
        raise RowError("not a JSON object")
    return row


def _string(row: dict, key: str, *, required: bool = True, max_length: int = 1000) -> str | None:
    value = row.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise RowError(f"'{key}' must be a non-empty string")
    if len(value) > max_length or "\x00" in value:
        raise RowError(f"'{key}' is too long or holds a NUL character")
    return value


def _number(row: dict, key: str, *, default: float | None = None) -> float | None:
    value = row.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RowError(f"'{key}' must be a finite number")
    return float(value)


def _numbers(row: dict, key: str) -> list:
    value = row.get(key) or []
    if not isinstance(value, list) or any(
        isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) for v in value
    ):
        raise RowError(f"'{key}' must be a list of finite numbers")
    return value


def _strings(row: dict, key: str) -> list[str]:
    value = row.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RowError(f"'{key}' must be a list of strings")
    return value


def parse_index(row: dict) -> int:
    value = row.get("index")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise RowError("'index' must be a whole number (or its string)")
    index = int(value)
    if index > MAX_INDEX:
        raise RowError(f"'index' {index} is too large")
    return index


def _histogram(heights: list, values: list) -> dict | None:
    if not heights:
        return None
    if len(heights) != len(values):
        raise RowError("freq_hist_data_bar_heights and freq_hist_data_bar_values differ in length")
    counts = [int(h) if float(h).is_integer() else float(h) for h in heights]
    first = float(values[0])
    if len(values) == 1 or math.isclose(values[1] - first, 2 * first, rel_tol=1e-6, abs_tol=1e-12):
        width = 2 * first  # bars from 0: centres at (i + 0.5) * width
        if width > 0:
            return {"bin_width": width, "counts": counts}
    width = float(values[1]) - first
    if width <= 0:
        raise RowError("freq_hist_data_bar_values must increase")
    return {"bin_width": width, "start": first - width / 2, "counts": counts}


def _token_values(tokens: list[str], values: list) -> list[dict]:
    if len(tokens) != len(values):
        raise RowError("token strings and values differ in length")
    return [{"token": token, "value": value} for token, value in zip(tokens, values, strict=True)]


def feature_fields(row: dict) -> dict:
    """The Feature fields of a Neuron row (index included)."""
    density = _number(row, "frac_nonzero", default=0.0)
    if not 0 <= density <= 1:
        raise RowError("'frac_nonzero' must be between 0 and 1")
    top = _token_values(_strings(row, "pos_str"), _numbers(row, "pos_values"))
    bottom = _token_values(_strings(row, "neg_str"), _numbers(row, "neg_values"))
    similar_indices = _numbers(row, "topkCosSimIndices")
    similar_values = _numbers(row, "topkCosSimValues")
    if len(similar_indices) != len(similar_values):
        raise RowError("topkCosSimIndices and topkCosSimValues differ in length")
    return {
        "index": parse_index(row),
        "max_activation": _number(row, "maxActApprox", default=0.0),
        "density": density,
        "histogram": _histogram(
            _numbers(row, "freq_hist_data_bar_heights"), _numbers(row, "freq_hist_data_bar_values")
        ),
        "top_logits": top or None,
        "bottom_logits": bottom or None,
        "similar": [
            {"index": int(index), "similarity": value}
            for index, value in zip(similar_indices, similar_values, strict=True)
        ]
        or None,
        "hook_name": row.get("hookName") if isinstance(row.get("hookName"), str) else "",
    }


def activation_fields(row: dict) -> dict:
    """An Activation row, checked: tokens, float32 values, max, and its interval (None for a top example)."""
    tokens = _strings(row, "tokens")
    if not tokens or len(tokens) > MAX_TOKENS:
        raise RowError(f"'tokens' must hold 1 to {MAX_TOKENS:,} tokens")
    if any("\x00" in token for token in tokens):
        raise RowError("a token holds a NUL character")
    raw_values = _numbers(row, "values")
    if len(raw_values) != len(tokens):
        raise RowError(f"{len(tokens)} tokens but {len(raw_values)} values")
    values = np.asarray(raw_values, dtype="<f4")
    if not np.isfinite(values).all():
        raise RowError("a value is too large for float32")
    max_index = row.get("maxValueTokenIndex")
    if max_index is None:
        max_index = int(values.argmax())
    if isinstance(max_index, bool) or not isinstance(max_index, int) or not 0 <= max_index < len(tokens):
        raise RowError("'maxValueTokenIndex' must be the position of a token")
    bin_min = _number(row, "binMin")
    interval = None
    if bin_min is not None and bin_min >= 0:
        bin_max = _number(row, "binMax")
        contains = _number(row, "binContains")
        if bin_max is None or bin_max < bin_min:
            raise RowError("'binMax' must be a number at least 'binMin'")
        interval = (bin_min, bin_max, contains)
    return {
        "index": parse_index(row),
        "tokens": tokens,
        "values": values,
        "max_value": _number(row, "maxValue", default=float(values.max())),
        "max_token_index": max_index,
        "interval": interval,
    }


def explanation_fields(row: dict) -> dict:
    description = row.get("description")
    if not isinstance(description, str) or not description.strip():
        raise RowError("'description' must be a non-empty string")
    type_name = row.get("typeName")
    model_name = row.get("explanationModelName")
    for key, value in (("typeName", type_name), ("explanationModelName", model_name)):
        if value is not None and not isinstance(value, str):
            raise RowError(f"'{key}' must be a string or null")
    return {
        "index": parse_index(row),
        "text": description,
        "method": (type_name or IMPORTED_METHOD)[:64],
        "explainer_model": (model_name or "")[:200],
    }


def window_key(tokens: list[str]) -> str:
    """The corpus key of an imported window: its tokens' digest, so the same tokens are stored once."""
    return "np:" + hashlib.sha256(orjson.dumps(tokens)).hexdigest()[:60]


def row_model_and_source(row: dict) -> tuple[str, str]:
    return _string(row, "modelId", max_length=64), _string(row, "layer", max_length=64)


def check_row(row: Any) -> dict:
    if not isinstance(row, dict):
        raise RowError("not a JSON object")
    return row
