"""The REST API under /api/v1/, one module per resource (api/urls.py imports each). Thin views: validate the input
(serializers), call a service or a selector, serialize the output. Who may do what is the services' business
(explanations.services, features.services, features.uploads); their PermissionDenied, ValidationError and
RateLimited become the API's error bodies in api.errors.

base.py holds what they share; meta.py ping and me; sources.py models and sources (and their uploads);
features.py features and activation examples; inference.py live inference; explanations.py explanations, revisions,
scores and votes; comments.py and lists.py; runs.py activation runs; exports.py whole-source exports.
"""
