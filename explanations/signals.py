"""What the wiki tells the layers above it. The wiki cannot import scoring (imports flow one way), yet a new
revision changes what its scores mean: scoring listens here (scoring/apps.py) and keeps them in step."""

from django.dispatch import Signal

# Sent inside the transaction that adds a revision, by explanations.services.explanations._append_revision,
# with `explanation`, `revision` (the new current one) and `reverted_to` (the earlier revision whose text it
# restores, or None).
revision_added = Signal()
