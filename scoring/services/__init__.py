"""Writes that connect the explainers (scoring/explainers) and the scorers (scoring/core) to the database, one
module per entity: backends (which explainers and judges a run uses, built from its parameters), scores (the one
writer of scores and of an explanation's best score), generated_explanations (machine explanations), runs
(explanation and scoring runs: creating them, the requests from a feature's page, resuming) and run_steps (the
step that works through a run's features). Import from the module, not from here."""
