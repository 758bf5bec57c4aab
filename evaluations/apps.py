from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "evaluations"
    verbose_name = "Dictionary evaluations: quality metrics, comparisons and feature families"
