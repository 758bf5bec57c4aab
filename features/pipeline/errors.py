class PipelineInputError(ValueError):
    """Bad input to a pipeline (a path that is not a checkpoint, a missing layer, an empty corpus).

    Its message is shown to the user as it is, so it says what was wrong and what to do.
    """
