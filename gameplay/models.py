"""The game's records: a profile per player (the row their spending locks), the append-only Bones ledger,
rounds with their items and answers, the daily feature, inventory and achievements.

Truth lives here and only here: a round item's true value and label are written when the round starts and
read by the server when the answer comes in; pages show them only after the answer is committed.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from explanations.models import Explanation, ExplanationRevision
from features.models import ContextWindow, Feature

from .core.progression import level_progress
from .core.reliability import gold_accuracy, verifier_weight


class PlayerProfile(models.Model):
    """One per player: XP, the cached Bones balance, streak, camp progress, reliability, equipped items.

    Every change to the balance happens with this row locked (select_for_update), together with the ledger
    entry that explains it, so `balance` always equals the sum of the player's ledger entries."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="player")
    balance = models.IntegerField(default=0, help_text="Cached sum of the ledger; changed only with the row locked")
    xp = models.PositiveIntegerField(default=0)
    streak = models.PositiveIntegerField(default=0)
    best_streak = models.PositiveIntegerField(default=0)
    last_daily = models.DateField(null=True, blank=True)
    streak_freezes = models.PositiveIntegerField(default=0)
    hints = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    gold_total = models.PositiveIntegerField(default=0)
    verify_cards = models.PositiveIntegerField(default=0)
    camp_scores = models.JSONField(default=dict, blank=True, help_text="Best camp score (0-1) per rung")
    camp_graduated = models.BooleanField(default=False)
    equipped = models.JSONField(default=dict, blank=True, help_text="Slot -> shop item slug")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="player_balance_never_negative"),
            models.CheckConstraint(condition=Q(gold_correct__lte=models.F("gold_total")), name="player_gold_counts"),
        ]

    def __str__(self) -> str:
        return f"player {self.user}"

    @property
    def level(self) -> int:
        return level_progress(self.xp).level

    @property
    def progress(self):
        return level_progress(self.xp)

    @property
    def reliability(self) -> float:
        return gold_accuracy(self.gold_correct, self.gold_total)

    @property
    def weight(self) -> float:
        return verifier_weight(self.gold_correct, self.gold_total)


class LedgerEntry(models.Model):
    """One movement of Bones: positive for earnings, negative for spending. Append-only; the balance is the
    sum. The idempotency key makes a grant or a purchase happen once however often it is asked for."""

    class Reason(models.TextChoices):
        PLAY = "play", "Scored play"
        ACHIEVEMENT = "achievement", "Achievement"
        PURCHASE = "purchase", "Shop purchase"
        ADJUSTMENT = "adjustment", "Adjustment by staff"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ledger_entries")
    amount = models.IntegerField()
    reason = models.CharField(max_length=16, choices=Reason.choices)
    memo = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["user", "reason", "created_at"], name="ledger_user_reason_time")]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_not_zero")]

    def __str__(self) -> str:
        return f"{self.amount:+d} Bones for {self.user} ({self.reason})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Ledger entries are append-only: add a correcting entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are append-only: add a correcting entry instead.")


class Round(models.Model):
    class Mode(models.TextChoices):
        CAMP_PREDICT = "camp-predict", "Training camp: Predict"
        CAMP_EXPLAIN = "camp-explain", "Training camp: Explain"
        PREDICT = "predict", "Predict"
        DAILY = "daily", "Daily feature"
        EXPLAIN = "explain", "Explain"
        VERIFY = "verify", "Verify"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        FINISHED = "finished", "Finished"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="game_rounds")
    mode = models.CharField(max_length=16, choices=Mode.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    feature = models.ForeignKey(Feature, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    rung = models.CharField(max_length=32, blank=True, help_text="Training camp rung slug")
    day = models.DateField(null=True, blank=True, help_text="Daily rounds: the day played")
    seed = models.BigIntegerField(default=0)
    client_token = models.CharField(max_length=64, blank=True, help_text="Makes a resubmitted form one round")
    explanation = models.ForeignKey(
        Explanation, null=True, blank=True, on_delete=models.SET_NULL, related_name="game_rounds"
    )
    skill = models.FloatField(null=True, blank=True)
    xp = models.PositiveIntegerField(default=0)
    bones = models.PositiveIntegerField(default=0)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["mode", "status", "finished_at"], name="round_board"),
            models.Index(fields=["user", "mode", "feature"], name="round_user_feature"),
            models.Index(fields=["user", "mode", "rung"], name="round_user_rung"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], condition=Q(mode="daily"), name="round_one_daily_per_day"),
            models.UniqueConstraint(
                fields=["user", "client_token"], condition=~Q(client_token=""), name="round_unique_client_token"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mode} round {self.pk} of {self.user}"

    def get_absolute_url(self) -> str:
        return reverse("gameplay:round", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status == self.Status.FINISHED

    @property
    def is_predict(self) -> bool:
        return self.mode in {self.Mode.CAMP_PREDICT, self.Mode.PREDICT, self.Mode.DAILY}


class RoundItem(models.Model):
    """One question of a round: a window with a marked token (and, in Verify, an explanation to judge).
    `truth`, `values`, `label`, `kind` and `is_gold` are the server's secret until the item is answered."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField()
    window = models.ForeignKey(ContextWindow, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    feature = models.ForeignKey(Feature, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    tokens = models.JSONField(help_text="Display strings of the window (or of the synthetic text)")
    marked = models.PositiveSmallIntegerField(help_text="Index of the marked token")
    truth = models.FloatField(help_text="True activation at the marked token, 0-10")
    values = models.JSONField(default=list, help_text="True activations of every token, 0-10, for the reveal")
    kind = models.CharField(max_length=16, help_text="top, interval, lookalike, positive, context, filler")
    label = models.BooleanField(null=True, blank=True, help_text="Verify: whether the feature is active there")
    is_gold = models.BooleanField(default=False)
    prompt = models.TextField(blank=True, help_text="Verify: the explanation the card shows")
    explanation = models.ForeignKey(
        Explanation, null=True, blank=True, on_delete=models.CASCADE, related_name="verify_items"
    )
    revision = models.ForeignKey(
        ExplanationRevision, null=True, blank=True, on_delete=models.CASCADE, related_name="verify_items"
    )
    hinted = models.BooleanField(default=False)

    class Meta:
        ordering = ["round", "position"]
        constraints = [models.UniqueConstraint(fields=["round", "position"], name="round_item_unique_position")]
        indexes = [models.Index(fields=["explanation", "revision", "is_gold"], name="round_item_explanation")]

    def __str__(self) -> str:
        return f"item {self.position} of round {self.round_id}"


class Answer(models.Model):
    """A player's answer to one item: a guess (Predict) or a verdict (Verify). One per player and item."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="game_answers")
    item = models.ForeignKey(RoundItem, on_delete=models.CASCADE, related_name="answers")
    guess = models.FloatField(null=True, blank=True)
    says_fits = models.BooleanField(null=True, blank=True)
    correct = models.BooleanField(null=True, blank=True, help_text="Gold Verify cards: whether the verdict was right")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "item"], name="answer_once_per_player_and_item"),
            models.CheckConstraint(
                condition=Q(guess__isnull=True) | Q(guess__gte=0, guess__lte=10), name="answer_guess_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"answer of {self.user} to {self.item}"


class DailyFeature(models.Model):
    """The feature of the day, fixed the first time anyone asks for it."""

    day = models.DateField(unique=True)
    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"{self.day}: {self.feature}"


class InventoryItem(models.Model):
    """A cosmetic item a player owns (consumables are counts on the profile)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="game_items")
    item = models.CharField(max_length=32)
    acquired_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "acquired_at"]
        constraints = [models.UniqueConstraint(fields=["user", "item"], name="inventory_item_once")]

    def __str__(self) -> str:
        return f"{self.item} of {self.user}"


class EarnedAchievement(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="achievements")
    slug = models.CharField(max_length=32)
    earned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "earned_at"]
        constraints = [models.UniqueConstraint(fields=["user", "slug"], name="achievement_once")]

    def __str__(self) -> str:
        return f"{self.slug} of {self.user}"


class HeldOutPool(models.Model):
    """The stored windows a feature's Predict and Verify cards are drawn from (none on its page), with the
    feature's true activations on them, packed by core/held_out.py: computed once for a whole source in
    batches (services/held_out.py) or by the first round that finds none, so that starting a round runs no
    model. `fingerprint` names the weights they were computed with; a pool of other weights is not used."""

    feature = models.OneToOneField(Feature, on_delete=models.CASCADE, related_name="held_out_pool")
    window_ids = models.JSONField(help_text="The pool's ContextWindow ids, in the order of `values`")
    values = models.BinaryField(help_text="core/held_out.py: pack_pool()")
    fingerprint = models.CharField(max_length=2100)
    computed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"held-out pool of {self.feature_id}"
