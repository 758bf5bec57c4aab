from tests.purity import django_loaded_by_importing, modules_of


def test_the_activation_pipeline_imports_without_django():
    modules = modules_of("features.pipeline")
    assert {"features.pipeline.stream", "features.pipeline.dashboards", "features.pipeline.training"} <= set(modules)
    assert django_loaded_by_importing(modules) == []
