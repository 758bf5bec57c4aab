"""Screenshots of every game mode at phone (390 px) and desktop (1280 px) width, taken with headless Chromium
driven over the DevTools protocol, against `manage.py runserver` serving a demo database.

Two steps, because the driver needs `websockets` (and `pillow`, to keep the PNGs small), which the project
does not:

    # 1. a demo database with players (the project's virtualenv)
    export DJANGO_DEBUG=1 NEURONPEDIA_VAR_DIR=/tmp/np-game-demo
    python manage.py migrate && python manage.py build_demo --sync --layers 0,3 --windows 400 --no-sae
    python docs/screenshots/game/take_screenshots.py prepare > /tmp/np-game-demo/shots.json
    python manage.py runserver 127.0.0.1:8765 --noreload &

    # 2. the screenshots (any Python with websockets and pillow)
    python docs/screenshots/game/take_screenshots.py shoot /tmp/np-game-demo/shots.json

Players click through the modes as a person would: the htmx reveals are real swaps after real answers.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
BASE = "http://127.0.0.1:8765"
WIDTHS = {"phone": (390, 844, True), "desktop": (1280, 900, False)}
SLIDE_TO = "const s = document.querySelector('.guess-slider'); s.value = {}; s.dispatchEvent(new Event('input'))"


# --- 1. Players, explanations and rounds in the demo database ----------------------------------------


def prepare() -> None:
    import os
    import random
    from datetime import timedelta

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronpedia.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from explanations.services import explanations as explanation_services
    from features.models import Feature
    from gameplay import items
    from gameplay.models import InventoryItem, PlayerProfile, Round
    from gameplay.services.ledger import ledger_grant
    from gameplay.services.predict import daily_start
    from gameplay.services.rounds import round_answer
    from gameplay.services.verify import verify_start

    rng = random.Random(7)
    users = get_user_model()

    def player(name: str, **profile) -> object:
        user, _ = users.objects.get_or_create(username=name, defaults={"email": f"{name}@example.com"})
        PlayerProfile.objects.update_or_create(user=user, defaults=profile)
        return user

    features = list(
        Feature.objects.filter(max_activation__gt=0, source__slug="3-mlp").select_related("source__model")
        .order_by("-max_activation")[:40]
    )  # fmt: skip
    grace = player("grace", camp_graduated=True)
    explained = []
    for feature in features[:6]:
        if feature.explanations.exists():
            explained.append(feature.explanations.first())
            continue
        keys = items.feature_windows(feature).key_tokens or ["the"]
        text = f'the token "{keys[0]}"' + (f' and "{keys[1]}"' if len(keys) > 1 else "")
        explained.append(explanation_services.explanation_create(feature=feature, author=grace, text=text, embed=False))

    # Verifiers who played before: reliable ones, so grace's explanations have human scores.
    for name in ("lin", "sam"):
        verifier = player(name, camp_graduated=True)
        if Round.objects.filter(user=verifier, mode="verify").exists():
            continue
        for explanation in explained[:2]:
            round_obj = verify_start(user=verifier, explanation=explanation)
            for item in round_obj.items.all():
                says = item.label if (item.is_gold or rng.random() < 0.85) else not item.label
                round_answer(user=verifier, round_id=round_obj.pk, position=item.position, says_fits=says)

    # A leaderboard to climb.
    now = timezone.now()
    for number, name in enumerate(["kai", "mo", "noor", "ola", "pia", "quinn", "ravi", "suki"]):
        rival = player(name, camp_graduated=True, xp=200 * number)
        if not Round.objects.filter(user=rival).exists():
            for day in range(4):
                Round.objects.create(
                    user=rival, mode=rng.choice(["predict", "daily"]), status="finished",
                    skill=round(rng.uniform(0.2, 0.85), 3), finished_at=now - timedelta(days=day * 3),
                )  # fmt: skip

    ada = player(
        "ada", camp_graduated=True, xp=1350, streak=6, best_streak=9, hints=2, streak_freezes=1,
        last_daily=now.date() - timedelta(days=1),
        camp_scores={"plain-word": 1.0, "colour-cat": 0.9, "not-negated": 0.7},
        equipped={"hat": "wizard", "pet": "bandana", "colour": "violet"},
    )  # fmt: skip
    for slug in ("wizard", "bandana", "violet", "cap"):
        InventoryItem.objects.get_or_create(user=ada, item=slug)
    ledger_grant(user=ada, amount=180, reason="adjustment", key="demo:ada:welcome", memo="Welcome gift")
    if not Round.objects.filter(user=ada, mode="predict").exists():
        for day in range(3):
            Round.objects.create(
                user=ada, mode="predict", status="finished", skill=round(rng.uniform(0.5, 0.8), 3),
                finished_at=now - timedelta(days=day),
            )  # fmt: skip
    rookie = player("rookie")  # fresh from sign-up: the camp only

    # Ada plays today's daily feature (reasonably well) so her card exists.
    daily = daily_start(user=ada)
    for item in daily.items.all():
        if not item.answers.exists():
            guess = min(10.0, max(0.0, round(item.truth + rng.uniform(-2.5, 2.5))))
            round_answer(user=ada, round_id=daily.pk, position=item.position, guess=guess)

    def session(user) -> str:
        store = SessionStore()
        store["_auth_user_id"] = str(user.pk)
        store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        store["_auth_user_hash"] = user.get_session_auth_hash()
        store.create()
        return store.session_key

    explain_feature = next(f for f in features[6:] if not f.explanations.exists())
    print(
        json.dumps(
            {
                "ada": session(ada),
                "rookie": session(rookie),
                "explain_feature": explain_feature.pk,
                "explain_text": 'the token "' + (items.feature_windows(explain_feature).key_tokens or ["of"])[0] + '"',
                "daily_card": f"/play/daily/{daily.day.isoformat()}/card/ada/",
            }
        )
    )


# --- 2. Chromium over the DevTools protocol ------------------------------------------------------


def shoot(state_path: str) -> None:
    import asyncio

    asyncio.run(_shoot(json.loads(Path(state_path).read_text())))


class Page:
    def __init__(self, socket):
        self.socket = socket
        self.next_id = 0
        self.events: list[dict] = []

    async def send(self, method: str, **params) -> dict:
        self.next_id += 1
        await self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    async def wait_for(self, expression: str, timeout: float = 90) -> None:
        import asyncio

        for _ in range(int(timeout * 5)):
            result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
            if result.get("result", {}).get("value"):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(expression)

    async def goto(self, path: str) -> None:
        await self.send("Page.navigate", url=BASE + path)
        await self.wait_for("document.readyState === 'complete' && !!document.body")

    async def run(self, script: str) -> None:
        await self.send("Runtime.evaluate", expression=script, awaitPromise=True)

    async def click_and_load(self, selector: str) -> None:
        """Click something that loads a new page (a form's submit button or a link)."""
        await self.run("window.__old = true")
        await self.run(f"document.querySelector({json.dumps(selector)}).click()")
        await self.wait_for("!window.__old && document.readyState === 'complete'")


async def _shoot(state: dict) -> None:
    import asyncio
    import io
    import subprocess
    import tempfile
    import urllib.request

    import websockets
    from PIL import Image

    profile_dir = tempfile.mkdtemp()
    browser = subprocess.Popen(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile_dir}", "--remote-debugging-port=9339", "--hide-scrollbars", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                targets = json.loads(urllib.request.urlopen("http://127.0.0.1:9339/json/list").read())
                break
            except OSError:
                await asyncio.sleep(0.2)
        url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        async with websockets.connect(url, max_size=64 * 1024 * 1024) as socket:
            page = Page(socket)
            await page.send("Page.enable")
            await page.send("Network.enable")
            taken = []

            async def snap(name: str, width_name: str, scroll_to: str | None = None) -> None:
                if scroll_to:
                    await page.run(
                        f"(document.querySelector({json.dumps(scroll_to)}) || document.body)"
                        ".scrollIntoView({block: 'start'}); window.scrollBy(0, -8)"
                    )
                else:
                    await page.run("window.scrollTo(0, 0)")
                await asyncio.sleep(0.3)
                shot = await page.send("Page.captureScreenshot", format="png")
                import base64

                image = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
                image = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
                path = HERE / f"{name}-{width_name}.png"
                image.save(path, optimize=True)
                taken.append(path.name)

            for width_name, (width, height, mobile) in WIDTHS.items():
                await page.send(
                    "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile
                )
                await page.send("Emulation.setTouchEmulationEnabled", enabled=mobile)

                # The rookie: the hub with locked modes, the camp, a camp round and its reveal.
                await page.send("Network.setCookie", name="sessionid", value=state["rookie"], url=BASE)
                await page.goto("/play/")
                await snap("01-hub-rookie", width_name)
                await page.goto("/play/camp/")
                await snap("02-camp", width_name, ".ladder")
                await page.click_and_load(".rung.open form button")
                await snap("03-camp-predict-card", width_name, ".round-head")
                await page.run(SLIDE_TO.format(7))
                await page.run("document.querySelector('.answer-form button[type=submit]').click()")
                await page.wait_for("!!document.querySelector('.reveal-numbers')")
                await snap("04-camp-predict-reveal", width_name, ".round-head")
                await page.goto("/play/camp/plain-word/explain/")
                await snap("05-camp-explain", width_name)
                await page.run("document.querySelector('#explain-text').value = 'dogs and puppies'")
                await page.click_and_load(".explain-form button[type=submit]")
                await snap("06-camp-explain-result", width_name)

                # Ada, past the camp: Predict, Explain, Verify, the daily card, the shop, the leaderboard.
                await page.send("Network.setCookie", name="sessionid", value=state["ada"], url=BASE)
                await page.goto("/play/")
                await snap("07-hub", width_name)
                await page.click_and_load(".mode-card form button")
                await snap("08-predict-card", width_name, ".round-head")
                await page.run(SLIDE_TO.format(3))
                await page.run("document.querySelector('.answer-form button[type=submit]').click()")
                await page.wait_for("!!document.querySelector('.reveal-numbers')")
                await snap("09-predict-reveal", width_name, ".round-head")
                await page.goto(f"/play/explain/{state['explain_feature']}/")
                await snap("10-explain", width_name)
                await page.run(f"document.querySelector('#explain-text').value = {json.dumps(state['explain_text'])}")
                await page.click_and_load(".explain-form button[type=submit]")
                await snap("11-explain-result", width_name)
                await page.goto("/play/verify/")
                await page.click_and_load("article form button")
                await snap("12-verify-card", width_name, ".round-head")
                await page.run("document.querySelector('.verdict-buttons .yes').click()")
                await page.wait_for("!!document.querySelector('.reveal-line')")
                await snap("13-verify-reveal", width_name, ".round-head")
                await page.goto("/play/daily/")
                await snap("14-daily", width_name)
                await page.goto(state["daily_card"])
                await snap("15-daily-card", width_name)
                await page.goto("/play/shop/")
                await snap("16-shop", width_name)
                await page.goto("/play/leaderboard/")
                await snap("17-leaderboard", width_name)
                await page.goto("/u/ada/")
                await snap("18-profile", width_name, ".profile-game")
            print("\n".join(taken))
    finally:
        browser.terminate()
        browser.wait(timeout=10)


if __name__ == "__main__":
    if sys.argv[1:2] == ["prepare"]:
        prepare()
    elif sys.argv[1:2] == ["shoot"]:
        shoot(sys.argv[2])
    else:
        raise SystemExit(__doc__)
