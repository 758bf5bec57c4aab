"""Pure code of the features app besides the pipeline: how tokens are highlighted. No Django imports here
(tests/test_pure_cores.py checks it)."""
