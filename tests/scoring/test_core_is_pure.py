from tests.purity import django_loaded_by_importing, modules_of


def test_the_scoring_core_and_the_explainers_import_without_django():
    modules = modules_of("scoring.core") + modules_of("scoring.explainers")
    assert {"scoring.core.scorers", "scoring.core.jsonl", "scoring.explainers.token_stats"} <= set(modules)
    assert django_loaded_by_importing(modules) == []
