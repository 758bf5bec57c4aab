"""The game's pages: thin views that read a form, call a service or a selector, and answer with a page, an
htmx fragment (the instant reveal) or a redirect. Every paid action needs a signed-in player; every answer is
checked and scored on the server."""

import uuid
from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from explanations.models import Explanation
from features.models import Feature

from . import items as feature_items
from . import selectors
from .conf import game_setting
from .core import camp
from .core.catalogue import CATALOGUE, SLOTS
from .core.predict import card_glyphs, item_verdict
from .core.streaks import streak_alive
from .decorators import game_action
from .models import Answer, Round
from .services.explain import camp_explain_submit, explain_submit
from .services.predict import camp_predict_start, daily_feature, daily_start, predict_start
from .services.profiles import ensure_real_features_unlocked, profile_for
from .services.rounds import hint_use, round_answer
from .services.shop import inventory_equip, shop_buy
from .services.verify import verify_check_allowed, verify_start

Mode = Round.Mode


def _message(error: ValidationError) -> str:
    return " ".join(error.messages)


def _player_context(user) -> dict:
    profile = profile_for(user=user)
    return {"profile": profile, "progress": profile.progress}


# --- The hub ---------------------------------------------------------------------------------


@require_GET
def hub(request: HttpRequest) -> HttpResponse:
    context: dict = {"rungs": camp.RUNGS, "unlock_skill": game_setting("GAME_UNLOCK_CAMP_SKILL")}
    if request.user.is_authenticated:
        profile = profile_for(user=request.user)
        today = timezone.now().date()
        context.update(
            _player_context(request.user),
            camp=selectors.camp_progress_of(profile=profile),
            streak=streak_alive(
                last_played=profile.last_daily, today=today, streak=profile.streak, freezes=profile.streak_freezes
            ),
            played_today=profile.last_daily == today,
            recent=selectors.recent_rounds(user=request.user),
            verified=selectors.verified_explanations(user=request.user),
            open_round=selectors.open_round_of(user=request.user),
        )
    return render(request, "gameplay/hub.html", context)


# --- Training camp ----------------------------------------------------------------------------


@game_action()
def camp_index(request: HttpRequest) -> HttpResponse:
    profile = profile_for(user=request.user)
    context = {"rungs": camp.RUNGS, "camp": selectors.camp_progress_of(profile=profile), "pass_mark": camp.RUNG_PASS,
               "unlock_skill": game_setting("GAME_UNLOCK_CAMP_SKILL"), **_player_context(request.user)}  # fmt: skip
    return render(request, "gameplay/camp.html", context)


@game_action(rate="round")
@require_POST
def camp_predict(request: HttpRequest, rung: str) -> HttpResponse:
    try:
        round_obj = camp_predict_start(user=request.user, rung_slug=rung)
    except ValidationError as error:
        messages.error(request, _message(error))
        return redirect("gameplay:camp")
    return redirect(round_obj)


@game_action(rate="round")
def camp_explain(request: HttpRequest, rung: str) -> HttpResponse:
    try:
        rung_obj = selectors.camp_rung(slug=rung)
    except ValidationError as error:
        raise Http404(_message(error)) from error
    error_text = ""
    if request.method == "POST":
        try:
            round_obj = camp_explain_submit(
                user=request.user, rung_slug=rung, text=request.POST.get("text", ""),
                client_token=request.POST.get("token", "")[:64],
            )  # fmt: skip
            return redirect(round_obj)
        except ValidationError as error:
            error_text = _message(error)
    examples = camp.rung_example_set(rung_obj, seed=camp.RUNGS.index(rung_obj))
    context = {
        "rung": rung_obj,
        "examples": [_record_view(record, 10.0) for record in camp.shown_examples(examples)],
        "error": error_text,
        "text": request.POST.get("text", ""),
        "token": uuid.uuid4().hex,
    }
    return render(request, "gameplay/camp_explain.html", context, status=400 if error_text else 200)


def _record_view(record, scale: float) -> dict:
    """A stored or synthetic window with its true activations, for examples the player may study."""
    values = [min(10.0, max(0.0, 10.0 * v / scale)) if scale > 0 else 0.0 for v in record.activations]
    return {"tokens": list(record.tokens), "values": values, "max": max(values, default=0.0)}


# --- Rounds: Predict, daily and Verify cards ---------------------------------------------------------


def _own_round(request: HttpRequest, pk: int) -> Round:
    round_obj = Round.objects.select_related("feature__source__model").filter(pk=pk, user=request.user).first()
    if round_obj is None:
        raise Http404("There is no such round of yours.")
    return round_obj


def _round_context(round_obj: Round) -> dict:
    items = list(round_obj.items.prefetch_related("answers").order_by("position"))
    answered = [item for item in items if item.answers.all()]
    current = next((item for item in items if not item.answers.all()), None)
    context = {
        "round": round_obj,
        "items": items,
        "n_items": len(items),
        "n_answered": len(answered),
        "current": current,
        "hinted": [item.position + 1 for item in items if item.hinted and not item.answers.all()],
    }
    if round_obj.rung:
        context["rung"] = camp.BY_SLUG.get(round_obj.rung)
    if round_obj.feature_id and round_obj.is_predict:
        fw = feature_items.feature_windows(round_obj.feature)
        context["study"] = [_record_view(r, round_obj.feature.max_activation)
                            for r in fw.records(feature_items.study_examples(fw))]  # fmt: skip
        context["feature_explanation"] = selectors.feature_best_explanation(feature=round_obj.feature)
    if round_obj.is_finished:
        context["summary"] = _summary(round_obj, items)
    return context


def _summary(round_obj: Round, items) -> dict:
    rows = []
    for item in items:
        answer = item.answers.all()[0] if item.answers.all() else None
        if answer is None:
            continue
        row = {"item": item, "answer": answer}
        if round_obj.is_predict:
            row["verdict"] = item_verdict(answer.guess, item.truth)
        rows.append(row)
    summary = {"rows": rows}
    if round_obj.is_predict and rows:
        summary["glyphs"] = card_glyphs([r["answer"].guess for r in rows], [r["item"].truth for r in rows])
    if round_obj.mode == Mode.VERIFY:
        explanations = {item.explanation_id for item in items if item.explanation_id}
        summary["explanations"] = Explanation.objects.filter(pk__in=explanations).select_related(
            "feature__source__model", "current_revision"
        )
    return summary


@game_action()
@require_GET
def round_detail(request: HttpRequest, pk: int) -> HttpResponse:
    round_obj = _own_round(request, pk)
    if round_obj.mode in (Mode.EXPLAIN, Mode.CAMP_EXPLAIN):
        return render(request, "gameplay/explain_result.html", _explain_result_context(round_obj))
    return render(request, "gameplay/round.html", {**_round_context(round_obj), **_player_context(request.user)})


def _reveal_context(round_obj: Round, item, answer: Answer) -> dict:
    context = {"round": round_obj, "item": item, "answer": answer}
    if round_obj.is_predict:
        context["verdict"] = item_verdict(answer.guess, item.truth)
        context["error"] = abs(answer.guess - item.truth)
    if round_obj.rung:
        context["rung"] = camp.BY_SLUG.get(round_obj.rung)
    return context


@game_action(rate="answer")
@require_POST
def answer(request: HttpRequest, pk: int, position: int) -> HttpResponse:
    says_fits = {"yes": True, "no": False}.get(request.POST.get("fits", ""))
    try:
        outcome = round_answer(
            user=request.user, round_id=pk, position=position, guess=request.POST.get("guess"), says_fits=says_fits
        )
    except ValidationError as error:
        if request.htmx:
            return render(request, "gameplay/_card_error.html", {"message": _message(error)}, status=400)
        messages.error(request, _message(error))
        return redirect("gameplay:round", pk=pk)
    except PermissionDenied as denied:
        raise Http404(str(denied)) from denied
    round_obj = Round.objects.get(pk=pk)
    context = _reveal_context(round_obj, outcome.item, outcome.answer)
    if request.htmx:
        # The card swaps in place; the progress bar above it follows out of band.
        progress = {"n_answered": Answer.objects.filter(item__round=round_obj).count(), "oob": True}
        return render(request, "gameplay/_reveal.html", {**context, **progress, "n_items": round_obj.items.count()})
    page = {**_round_context(round_obj), **_player_context(request.user), **context, "revealing": True}
    return render(request, "gameplay/round.html", page)


@game_action(rate="answer")
@require_POST
def round_hint(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        item = hint_use(user=request.user, round_id=pk)
        messages.success(request, f"Hint: card {item.position + 1} is a silent look-alike.")
    except ValidationError as error:
        messages.error(request, _message(error))
    return redirect("gameplay:round", pk=pk)


@game_action(rate="round")
@require_POST
def predict(request: HttpRequest) -> HttpResponse:
    feature = None
    if request.POST.get("feature"):
        feature = Feature.objects.filter(pk=request.POST["feature"]).select_related("source__model").first()
        if feature is None:
            raise Http404("There is no such feature.")
    try:
        round_obj = predict_start(user=request.user, feature=feature)
    except ValidationError as error:
        messages.error(request, _message(error))
        return redirect("gameplay:hub")
    return redirect(round_obj)


# --- Explain -----------------------------------------------------------------------------------


@game_action()
@require_GET
def explain_pick(request: HttpRequest) -> HttpResponse:
    ensure_real_features_unlocked(user=request.user)
    try:
        feature = selectors.feature_pick(user=request.user, mode_group=(Mode.EXPLAIN,))
    except ValidationError as error:
        messages.error(request, _message(error))
        return redirect("gameplay:hub")
    return redirect("gameplay:explain", feature_id=feature.pk)


@game_action(rate="round", wiki_rate="explanation")
def explain(request: HttpRequest, feature_id: int) -> HttpResponse:
    ensure_real_features_unlocked(user=request.user)
    feature = get_object_or_404(Feature.objects.select_related("source__model"), pk=feature_id)
    error_text = ""
    if request.method == "POST":
        try:
            round_obj = explain_submit(
                user=request.user, feature=feature, text=request.POST.get("text", ""),
                rule_text=request.POST.get("rule", ""), client_token=request.POST.get("token", "")[:64],
            )  # fmt: skip
            return redirect(round_obj)
        except ValidationError as error:
            error_text = _message(error)
    fw = feature_items.feature_windows(feature)
    context = {
        "feature": feature,
        "examples": [_record_view(r, feature.max_activation) for r in fw.records(feature_items.explain_examples(fw))],
        "error": error_text,
        "text": request.POST.get("text", ""),
        "rule": request.POST.get("rule", ""),
        "token": uuid.uuid4().hex,
        "others": feature.explanations.visible().count(),
    }
    return render(request, "gameplay/explain.html", context, status=400 if error_text else 200)


def _explain_result_context(round_obj: Round) -> dict:
    details = round_obj.details or {}
    return {
        "round": round_obj,
        "details": details,
        "misses": [
            {**miss, "view": {"tokens": miss["tokens"], "values": miss["values"], "marked": miss.get("marked", [])}}
            for miss in details.get("misses", [])
        ],
        "rung": camp.BY_SLUG.get(round_obj.rung) if round_obj.rung else None,
        **_player_context(round_obj.user),
    }


# --- Verify ------------------------------------------------------------------------------------


@game_action(rate="round")
def verify(request: HttpRequest) -> HttpResponse:
    """GET: what Verify is (and which explanation, when one is named); POST: start a round."""
    explanation = None
    wanted = request.POST.get("explanation") or request.GET.get("explanation")
    if wanted:
        explanation = (
            Explanation.objects.select_related("current_revision", "feature__source__model").filter(pk=wanted).first()
        )
        if explanation is None:
            raise Http404("There is no such explanation.")
        verify_check_allowed(user=request.user, explanation=explanation)
    if request.method == "POST":
        try:
            round_obj = verify_start(user=request.user, explanation=explanation)
        except ValidationError as error:
            messages.error(request, _message(error))
            return redirect("gameplay:verify")
        return redirect(round_obj)
    context = {"explanation": explanation, **_player_context(request.user)}
    return render(request, "gameplay/verify.html", context)


# --- Daily -------------------------------------------------------------------------------------


@game_action(rate="round")
def daily(request: HttpRequest) -> HttpResponse:
    today = timezone.now().date()
    if request.method == "POST":
        try:
            round_obj = daily_start(user=request.user, day=today)
        except ValidationError as error:
            messages.error(request, _message(error))
            return redirect("gameplay:daily")
        return redirect(round_obj)
    profile = profile_for(user=request.user)
    context = {
        "today": today,
        "feature": daily_feature(day=today),
        "round": selectors.daily_round(user=request.user, day=today),
        "streak": streak_alive(
            last_played=profile.last_daily, today=today, streak=profile.streak, freezes=profile.streak_freezes
        ),
        **_player_context(request.user),
    }
    return render(request, "gameplay/daily.html", context)


@require_GET
def daily_card(request: HttpRequest, day: str, username: str) -> HttpResponse:
    """The shareable result card of one player's daily round: public, with Open Graph tags."""
    try:
        played = date.fromisoformat(day)
    except ValueError as error:
        raise Http404("That is not a date.") from error
    round_obj = selectors.daily_round_of(username=username, day=played)
    if round_obj is None:
        raise Http404(f"{username} has no finished daily round on {day}.")
    items = list(round_obj.items.prefetch_related("answers").order_by("position"))
    guesses = [item.answers.all()[0].guess for item in items if item.answers.all()]
    truths = [item.truth for item in items if item.answers.all()]
    context = {
        "round": round_obj,
        "player": round_obj.user,
        "profile": round_obj.user.player,
        "glyphs": card_glyphs(guesses, truths),
        "card_url": request.build_absolute_uri(),
        "play_url": request.build_absolute_uri(reverse("gameplay:daily")),
    }
    return render(request, "gameplay/daily_card.html", context)


# --- Shop, inventory, ledger -------------------------------------------------------------------------


@game_action()
def shop(request: HttpRequest) -> HttpResponse:
    context = {
        "catalogue": CATALOGUE,
        "owned": selectors.owned_items(user=request.user),
        "slots": SLOTS,
        "token": uuid.uuid4().hex,
        **_player_context(request.user),
    }
    return render(request, "gameplay/shop.html", context)


@game_action(rate="shop")
@require_POST
def buy(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        _entry, bought = shop_buy(user=request.user, slug=slug, token=request.POST.get("token", ""))
        if bought:
            messages.success(request, "Bought! It is in your inventory.")
    except ValidationError as error:
        messages.error(request, _message(error))
    return redirect("gameplay:shop")


@game_action(rate="shop")
@require_POST
def equip(request: HttpRequest) -> HttpResponse:
    try:
        inventory_equip(user=request.user, slot=request.POST.get("slot", ""), slug=request.POST.get("item", ""))
    except ValidationError as error:
        messages.error(request, _message(error))
    return redirect("gameplay:shop")


@game_action()
@require_GET
def bones(request: HttpRequest) -> HttpResponse:
    context = {"entries": selectors.ledger_history(user=request.user), **_player_context(request.user)}
    return render(request, "gameplay/bones.html", context)


# --- Leaderboards ------------------------------------------------------------------------------


@require_GET
def leaderboard(request: HttpRequest) -> HttpResponse:
    board = request.GET.get("board", "predict")
    period = request.GET.get("period", "all")
    if board not in selectors.BOARDS or period not in selectors.PERIODS:
        raise Http404("There is no such leaderboard.")
    context = {
        "board": selectors.leaderboard(board=board, period=period, viewer=request.user),
        "boards": selectors.BOARDS,
        "periods": selectors.PERIODS,
    }
    return render(request, "gameplay/leaderboard.html", context)
