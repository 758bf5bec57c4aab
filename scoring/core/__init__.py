"""The scoring core: plain Python and numpy, no Django.

records.py    ActivationRecord (OpenAI's {tokens, activations}), validation, 0-10 normalisation
formats.py    JSONL lines and OpenAI neuron records in, example sets out (for the command line)
examples.py   ExampleSet (top, interval samples, random, hard negatives) and hard-negative mining
metrics.py    Pearson correlation, balanced accuracy, ROC AUC with ties, precision/recall/F1
lexicon.py    small word classes (colour words, negations, ...) shared by the offline judge and explainer
judges.py     the Judge protocol, the offline judge (no LLM) and the oracle judge (for tests)
llm.py        a client for OpenAI-compatible chat/completions endpoints, with retries and clear errors
llm_judge.py  a judge that asks an LLM (simulation by JSON or by logprobs, detection, fuzzing)
scorers.py    the registry of scorers: simulation, detection, fuzzing, embedding, rule, human
embedding.py  the local MiniLM sentence encoder, loaded once per process
synthetic.py  synthetic features with planted rules over a generated corpus (tests, benchmark, game)
"""
