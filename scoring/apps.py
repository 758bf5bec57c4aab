from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"

    def ready(self) -> None:
        from explanations.signals import revision_added
        from features.models import PipelineRun
        from features.services.runs import run_kind_register
        from features.signals import run_succeeded
        from neuronpedia import warming

        from .core import semantic
        from .services.scores import revision_scores_follow
        from .services.semantic_words import semantic_words_after_run, semantic_words_path

        # A new revision's scores are its own (a revert carries the restored text's), and best_score follows.
        revision_added.connect(revision_scores_follow, dispatch_uid="scoring.revision_scores_follow")

        # Explanation and scoring runs are the run engine's (features/services/runs.py), with their own step.
        for kind in (PipelineRun.Kind.EXPLANATIONS, PipelineRun.Kind.SCORING):
            run_kind_register(
                kind=kind, first_task="scoring.tasks.run_step", resume="scoring.services.runs.feature_run_resume"
            )
        # Training the learned scorer is one step, done again whole when resumed.
        run_kind_register(
            kind=PipelineRun.Kind.TRAINING,
            first_task="scoring.tasks.learned_train",
            resume="scoring.services.learned.learned_run_resume",
        )
        # The semantic judge reads the word vectors of stored windows from its store (loaded on its first
        # lookup, or by a starting server), instead of encoding them on a player's click.
        semantic.configure_store(semantic_words_path())
        # ... and an activation run's new windows have their words stored by a task it queues on success.
        run_succeeded.connect(semantic_words_after_run, dispatch_uid="scoring.semantic_words_after_run")
        warming.register("semantic word vectors", "scoring.core.semantic.warm")
