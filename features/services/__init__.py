"""Writes that span models, one module per entity: registration (models and dictionaries), runs (the one run
engine), activation_runs (the activation pipeline's run), dashboard_store (a run's results written to the
database), page_versions (the feature page's version). Import from the module, not from here."""
