"""Reads of the game: a player's stats, balance and camp progress, leaderboards with the viewer's own rank,
the feedback an author gets from Verify, the daily card, and what a round may be built from (playable
features, verifiable explanations). Keyword-only, like the services; each runs a fixed number of queries.
Selectors never write and never import the services."""

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Avg, Count, Exists, F, Max, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from explanations.models import Explanation
from features.models import ActivationExample, Feature
from scoring.models import ExplanationScore

from .conf import game_setting
from .core import camp
from .core.achievements import BY_SLUG as ACHIEVEMENTS
from .core.achievements import PlayerStats
from .models import EarnedAchievement, InventoryItem, LedgerEntry, PlayerProfile, Round

Mode = Round.Mode
PREDICT_MODES = (Mode.PREDICT, Mode.DAILY)
CAMP_MODES = (Mode.CAMP_PREDICT, Mode.CAMP_EXPLAIN)

BOARDS = {
    "predict": ("Predict", PREDICT_MODES, "average skill"),
    "explain": ("Explain", (Mode.EXPLAIN,), "average score"),
    "verify": ("Verify", (Mode.VERIFY,), "average gold accuracy"),
}
PERIODS = {"all": "All time", "week": "Last 7 days"}


def player_stats(*, user) -> PlayerStats:
    profile = PlayerProfile.objects.filter(user=user).first() or PlayerProfile(user=user)
    finished = Round.objects.filter(user=user, status=Round.Status.FINISHED)
    row = finished.aggregate(
        predict_rounds=Count("pk", filter=Q(mode__in=PREDICT_MODES)),
        camp_rounds=Count("pk", filter=Q(mode__in=CAMP_MODES)),
        explanations=Count("pk", filter=Q(mode=Mode.EXPLAIN)),
        best_predict=Max("skill", filter=Q(mode__in=PREDICT_MODES)),
        best_explain=Max("skill", filter=Q(mode=Mode.EXPLAIN)),
    )
    return PlayerStats(
        predict_rounds=row["predict_rounds"],
        camp_rounds=row["camp_rounds"],
        best_predict_skill=row["best_predict"],
        best_explain_score=row["best_explain"],
        explanations=row["explanations"],
        best_streak=profile.best_streak,
        verify_cards=profile.verify_cards,
        reliability=profile.reliability,
        camp_graduated=profile.camp_graduated,
        purchases=LedgerEntry.objects.filter(user=user, reason=LedgerEntry.Reason.PURCHASE).count(),
        level=profile.level,
    )


@dataclass
class BoardRow:
    rank: int
    username: str
    average: float
    rounds: int
    is_viewer: bool = False


@dataclass
class Leaderboard:
    board: str
    period: str
    title: str
    measure: str
    rows: list[BoardRow]
    viewer_row: BoardRow | None  # the viewer's own rank, also when they are below the top rows
    viewer_rounds: int
    min_rounds: int


def leaderboard(*, board: str = "predict", period: str = "all", viewer=None, limit: int = 20) -> Leaderboard:
    """Players ranked by their average skill in rounds of one kind (not by how many they played), among
    those with at least GAME_LEADERBOARD_MIN_ROUNDS rounds; equal averages share a rank."""
    title, modes, measure = BOARDS[board]
    min_rounds = game_setting("GAME_LEADERBOARD_MIN_ROUNDS")
    rounds = Round.objects.filter(status=Round.Status.FINISHED, mode__in=modes, skill__isnull=False)
    if period == "week":
        rounds = rounds.filter(finished_at__gte=timezone.now() - timedelta(days=7))
    per_player = (
        rounds.values("user_id").annotate(average=Avg("skill"), rounds=Count("pk")).filter(rounds__gte=min_rounds)
    )
    top = list(
        per_player.values("user_id", "user__username", "average", "rounds").order_by("-average", "-rounds", "user_id")[
            :limit
        ]
    )
    viewer_id = viewer.pk if viewer is not None and viewer.is_authenticated else None
    rows: list[BoardRow] = []
    for position, row in enumerate(top, start=1):
        tied = rows and abs(rows[-1].average - row["average"]) < 1e-12
        rank = rows[-1].rank if tied else position
        rows.append(BoardRow(rank, row["user__username"], row["average"], row["rounds"], row["user_id"] == viewer_id))
    viewer_row, viewer_rounds = None, 0
    if viewer_id is not None:
        mine = rounds.filter(user_id=viewer_id).aggregate(average=Avg("skill"), rounds=Count("pk"))
        viewer_rounds = mine["rounds"]
        if viewer_rounds >= min_rounds:
            ahead = per_player.filter(average__gt=mine["average"] + 1e-12).count()
            viewer_row = BoardRow(ahead + 1, viewer.username, mine["average"], viewer_rounds, True)
    return Leaderboard(board, period, title, measure, rows, viewer_row, viewer_rounds, min_rounds)


@dataclass
class VerifiedExplanation:
    explanation: Explanation
    score: ExplanationScore


def open_round_of(*, user) -> Round | None:
    """The player's latest round of cards still open, to resume from the hub (Explain answers finish at once)."""
    return (
        Round.objects.filter(user=user, status=Round.Status.OPEN)
        .exclude(mode__in=(Mode.EXPLAIN, Mode.CAMP_EXPLAIN))
        .order_by("-created_at")
        .first()
    )


def daily_round(*, user, day: date) -> Round | None:
    """The player's daily round of `day`, finished or not."""
    return Round.objects.filter(user=user, mode=Mode.DAILY, day=day).first()


def feature_best_explanation(*, feature: Feature) -> Explanation | None:
    """The feature's best visible explanation (in the one order, ExplanationQuerySet.best_first), shown to
    study before a Predict round."""
    return feature.explanations.visible().best_first().select_related("current_revision").first()


def verified_explanations(*, user, limit: int = 10) -> list[VerifiedExplanation]:
    """The author's explanations that players have verified, most recently verified first, with their
    latest human score: the feedback Verify sends back to whoever wrote them."""
    latest = ExplanationScore.objects.filter(explanation=OuterRef("pk"), scorer="human").order_by("-created_at", "-pk")
    explanations = list(
        Explanation.objects.visible()
        .filter(author=user)
        .annotate(human_score_id=Subquery(latest.values("pk")[:1]))
        .filter(human_score_id__isnull=False)
        .select_related("feature__source__model", "current_revision")
        .order_by("-human_score_id")[:limit]
    )
    scores = ExplanationScore.objects.in_bulk([e.human_score_id for e in explanations])
    return [VerifiedExplanation(e, scores[e.human_score_id]) for e in explanations]


def recent_rounds(*, user, limit: int = 8) -> list[Round]:
    return list(
        Round.objects.filter(user=user, status=Round.Status.FINISHED)
        .select_related("feature__source__model")
        .order_by("-finished_at")[:limit]
    )


def achievements_of(*, user) -> list[dict]:
    earned = EarnedAchievement.objects.filter(user=user).order_by("earned_at")
    return [{"achievement": ACHIEVEMENTS[e.slug], "earned_at": e.earned_at} for e in earned if e.slug in ACHIEVEMENTS]


def daily_round_of(*, username: str, day: date) -> Round | None:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        return None
    return (
        Round.objects.filter(user=user, mode=Mode.DAILY, day=day, status=Round.Status.FINISHED)
        .select_related("user__player", "feature__source__model")
        .first()
    )


# --- The ledger ------------------------------------------------------------------------------------


def ledger_balance(*, user) -> int:
    """The balance as the ledger has it: the sum of the player's entries."""
    return LedgerEntry.objects.filter(user=user).aggregate(total=Sum("amount"))["total"] or 0


def owned_items(*, user) -> set[str]:
    """The slugs of the shop's items the player owns."""
    return set(InventoryItem.objects.filter(user=user).values_list("item", flat=True))


def ledger_history(*, user, limit: int = 50) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(user=user).order_by("-created_at", "-pk")[:limit])


def _start_of_today() -> datetime:
    return datetime.combine(timezone.now().date(), time.min, tzinfo=timezone.get_current_timezone())


def bones_earned_by_play_today(*, user) -> int:
    return (
        LedgerEntry.objects.filter(
            user=user, reason=LedgerEntry.Reason.PLAY, amount__gt=0, created_at__gte=_start_of_today()
        ).aggregate(total=Sum("amount"))["total"]
        or 0
    )


# --- The training camp -----------------------------------------------------------------------------


def camp_rung(*, slug: str) -> camp.Rung:
    rung = camp.BY_SLUG.get(slug)
    if rung is None:
        raise ValidationError(f"There is no training camp rung {slug!r}.")
    return rung


def camp_progress_of(*, profile: PlayerProfile) -> camp.CampProgress:
    return camp.camp_progress(profile.camp_scores or {}, unlock_skill=game_setting("GAME_UNLOCK_CAMP_SKILL"))


# --- What rounds are built from ----------------------------------------------------------------------


def playable_features():
    """Features with stored top examples and a positive maximum."""
    has_top = ActivationExample.objects.filter(feature=OuterRef("pk"), kind=ActivationExample.Kind.TOP)
    return Feature.objects.filter(max_activation__gt=0).filter(Exists(has_top))


def feature_pick(*, user, mode_group: tuple[str, ...]) -> Feature:
    """A random playable feature, preferring ones this player has not played in these modes. Drawn from the
    ids in Python: ORDER BY RANDOM() over every feature took over a second on the demo's 10,000."""
    played = set(
        Round.objects.filter(user=user, mode__in=mode_group, feature__isnull=False).values_list("feature_id", flat=True)
    )
    ids = list(playable_features().values_list("pk", flat=True))
    if not ids:
        raise ValidationError("There are no features with activation examples yet. Run the demo build first.")
    fresh = [pk for pk in ids if pk not in played]
    return Feature.objects.select_related("source__model").get(pk=random.choice(fresh or ids))


def verifiable_explanations(*, user):
    """Explanations a player may verify: visible, with a text, on a feature with examples, not their own
    (neither written nor last revised by them)."""
    return (
        Explanation.objects.visible()
        .filter(feature__max_activation__gt=0)
        .exclude(author=user)
        .exclude(current_revision__author=user)
        .select_related("current_revision", "feature__source__model")
    )


def verifier_judged_explanations(*, user):
    """The explanations whose current revision this player has given verdicts on: the human scores that
    move when their reliability does."""
    return Explanation.objects.filter(
        verify_items__answers__user=user,
        verify_items__is_gold=False,
        verify_items__revision_id=F("current_revision_id"),
    ).distinct()
