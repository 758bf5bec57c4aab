"""Neuronpedia's own API paths and shapes, so that its official Python client (`pip install neuronpedia`)
works against this server, and its data-dump layout, both ways. Point the client here (its NPRequest.BASE_URL,
or USE_LOCALHOST) with an API key of ours in NEURONPEDIA_API_KEY.

What the client sends and reads (neuronpedia 1.2.1's requests/*.py) decides the shapes:
- GET  /api/feature/<model>/<source>/<index>           features.py: a Neuron row with `explanations` and `activations`
- POST /api/feature/upload-batch                        uploads.py: {modelId, source, features: [...]}
- POST /api/activation/new                              inference.py: {feature: {modelId, layer, index}, customText}
- POST /api/activation/upload-batch                     uploads.py: {modelId, source, index, activations: [...]}
- POST /api/search-all                                  inference.py: {modelId, sourceSet, selectedLayers, text, ...}
- POST /api/search-topk-by-token                        inference.py: {modelId, source, text, numResults, ...}
- POST /api/list/new | list/add-features | list/get | list/list                                       lists.py
- POST /api/model/new, POST /api/source-set/new, GET /api/source-set/<model>/<name>                source_sets.py
The client puts the key in X-Api-Key on every request and raises its own errors on 401, 404 and 429; other
4xx bodies are shown to its user, so they are our usual error bodies (base.py reads the fields it sends). The
client writes some paths with a trailing slash (search-all/) and some without; both are accepted (urls.py).

The dumps: format.py is their rows (pure Python, no Django); dump_export.py writes a source's, and
dump_import.py loads them.
"""
