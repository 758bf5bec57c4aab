"""Settings for the test suite: the ordinary settings plus a throwaway key and a fast hasher."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-secret")
# Tests never touch the network: Hugging Face libraries must fail at once instead of trying a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from neuronpedia.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Test users are minutes old and have written nothing; the tests of the new-account rule turn it back on.
WIKI_NEW_ACCOUNT_DAYS = 0
WIKI_EDITORS_NEED_ACCEPTED_CONTRIBUTION = False
# Most tests write revisions without wanting a scoring run each; the tests of that behaviour turn it on.
WIKI_SCORE_NEW_REVISIONS = False
# Test processes, and the workers some tests start, load only the models a test asks for.
NEURONPEDIA_WARM = False
