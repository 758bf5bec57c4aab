"""Pure code of the wiki: explanation rules, markup, word diffs and text embeddings. No Django imports here
(tests/explanations/test_core_is_pure.py checks it), so scoring/core can use it too."""
