"""The activation pipeline's pure core: plain Python and torch, no Django.

loading.py  read a local transformers checkpoint and find its blocks and MLPs
corpus.py   the corpora (built-in docstrings, text files) and their token windows
topk.py     running per-feature statistics that merge exactly
neurons.py  one streaming pass of a model over windows, capturing MLP neuron activations
"""
