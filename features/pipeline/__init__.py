"""The activation pipeline's pure core: plain Python and torch, no Django.

loading.py       read a local transformers checkpoint and find its blocks and MLPs
devices.py       "auto|cpu|cuda|mps" and "float32|bfloat16|float16" resolved to torch objects, with clear errors
architectures.py the families (from config.json's model_type) and where each TransformerLens hook point lives
hooks.py         TransformerLens hook names resolved on a loaded model; one forward pass up to them
dictionaries.py  SAELens-format SAEs and transcoders, loaded and encoded with sae-lens
sources.py       what a run computes: MLP neurons of a layer, or a dictionary on a hook
corpus.py        corpus specs, their identity, and their token windows
builtin_corpora.py  the built-in corpora: Python's docs, package READMEs and licences, docstrings
corpus_files.py  .txt/.jsonl/.parquet files and Hugging Face datasets from the local cache
dashboards.py    every feature's dashboard statistics, in one pass, merging exactly across shards
stream.py        one streaming pass over windows for all sources of a model
logits.py        output logits and similar features from each feature's output direction
training.py      training a small SAE on a hook's activations
cache.py         loaded models and dictionaries, cached per process
errors.py        PipelineInputError: bad input, with a message a user can act on
"""
