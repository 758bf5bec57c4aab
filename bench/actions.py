"""How long a person waits after each click that runs a model or draws a round, on a built demo: starting a
Verify round, starting a Predict round, picking a feature to Explain, testing a feature on a text and
searching by meaning. Run it on a copy of a built demo (never on the one you serve):

    cp -a var /tmp/bench-var && NEURONPEDIA_VAR_DIR=/tmp/bench-var python bench/actions.py [--repeats 5]

Each action goes through Django's test client against the real URLs, as a signed-in player who has passed
the training camp (created once, `bench-player`), and follows redirects to the page the player lands on.
Every kind of action runs in a fresh Python process, so its first time is what the first visitor after a
start waits: "cold" is a process that has loaded nothing; "after warming" is a fresh process that first
ran what a starting web server runs in the background (neuronpedia.warming, when the code has it) and
waited for it to finish. The next --repeats clicks in the same process give the median and the slowest.
A round that is refused (a redirect back with a message) is reported, not timed as a success.
Prints a table and one JSON line.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronpedia.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")  # a secret key is not needed here
os.environ.setdefault("OMP_NUM_THREADS", "2")

ACTIONS = {
    "verify": "start a Verify round",
    "predict": "start a Predict round",
    "explain": "pick a feature to Explain",
    "test": "Test a feature on a text",
    "search": "search by meaning",
}
TEST_TEXT = "Return the number of items in the list, or raise a ValueError when the list is empty."
SEARCH_QUERIES = ["numbers in a list", "the name of a function", "punctuation at the end of a sentence",
                  "words about files and paths", "a keyword argument"]  # fmt: skip
BENCH_USER = "bench-player"


# --- One process: one kind of action, timed --------------------------------------------------------


def _player():
    from django.contrib.auth import get_user_model

    from gameplay.models import PlayerProfile

    user, _ = get_user_model().objects.get_or_create(username=BENCH_USER, defaults={"email": "bench@example.org"})
    PlayerProfile.objects.update_or_create(user=user, defaults={"camp_graduated": True})
    return user


def _clicker(action: str, client):
    """A function that performs one click of `action` and returns (seconds, refusal or "")."""
    from django.contrib.messages import get_messages

    from explanations.models import Explanation
    from features.models import Feature

    feature = None
    if action == "test":
        # A feature the demo explains, so that the test result has something to show.
        explained = Explanation.objects.visible().values("feature_id")
        feature = Feature.objects.filter(pk__in=explained).select_related("source__model").order_by("pk").first()
        if feature is None:
            feature = Feature.objects.filter(max_activation__gt=0).select_related("source__model").first()
    queries = iter(SEARCH_QUERIES * 100)

    def click() -> tuple[float, str]:
        start = time.perf_counter()
        if action == "verify":
            response = client.post("/play/verify/", follow=True)
        elif action == "predict":
            response = client.post("/play/predict/", follow=True)
        elif action == "explain":
            response = client.get("/play/explain/", follow=True)
        elif action == "test":
            url = f"{feature.get_absolute_url()}test/"
            response = client.post(url, {"text": TEST_TEXT}, headers={"HX-Request": "true"})
        else:
            response = client.get("/search/", {"q": next(queries), "mode": "semantic"})
        seconds = time.perf_counter() - start
        refusal = ""
        if response.status_code != 200:
            refusal = f"HTTP {response.status_code}"
        elif action in ("verify", "predict", "explain"):
            landed = response.redirect_chain[-1][0] if response.redirect_chain else ""
            wanted = "/play/round/" if action != "explain" else "/play/explain/"
            if wanted not in landed:
                notes = [str(m) for m in get_messages(response.wsgi_request)]
                refusal = f"landed on {landed or 'the same page'}: {' '.join(notes)[:120]}"
        elif action == "test" and b"inference-error" in response.content:
            refusal = "the test shows an error"
        return seconds, refusal

    return click


def child(action: str, repeats: int, warm: bool) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.test import Client

    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
    warm_seconds = None
    if warm:
        try:
            from neuronpedia import warming
        except ImportError:
            warming = None
        if warming is not None:
            start = time.perf_counter()
            warming.warm_now()
            warm_seconds = time.perf_counter() - start
    client = Client()
    client.force_login(_player())
    click = _clicker(action, client)
    times, refusals = [], []
    for _ in range(1 + repeats):
        seconds, refusal = click()
        times.append(seconds)
        if refusal:
            refusals.append(refusal)
    print(json.dumps({"action": action, "times": times, "refusals": refusals, "warm_seconds": warm_seconds}))


# --- The parent: one fresh process per (action, cold or warmed) -----------------------------------------


def run_child(action: str, repeats: int, warm: bool) -> dict:
    command = [sys.executable, __file__, "--child", action, "--repeats", str(repeats)]
    if warm:
        command.append("--warm")
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{action} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="clicks timed after the first, in the same process")
    parser.add_argument("--actions", default=",".join(ACTIONS), help=f"a comma-separated subset of {list(ACTIONS)}")
    parser.add_argument("--no-warm", action="store_true", help="only cold processes")
    parser.add_argument("--child", choices=list(ACTIONS), help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.repeats, args.warm)
        return
    if not os.environ.get("NEURONPEDIA_VAR_DIR"):
        raise SystemExit("Set NEURONPEDIA_VAR_DIR to a copy of a built demo: this writes rounds into it.")

    import torch

    var_dir = os.environ["NEURONPEDIA_VAR_DIR"]
    print(f"var dir {var_dir}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    results = {}
    header = (
        f"{'action':<28} {'cold 1st':>9} {'warmed 1st':>11} {'warm p50':>9} {'warm max':>9} {'warming':>8}  refused"
    )
    print(header)
    print("-" * len(header))
    for action in args.actions.split(","):
        cold = run_child(action, args.repeats, warm=False)
        warmed = None if args.no_warm else run_child(action, 0, warm=True)
        later = cold["times"][1:]
        row = {
            "cold_first_s": round(cold["times"][0], 3),
            "warmed_first_s": round(warmed["times"][0], 3) if warmed and warmed["warm_seconds"] is not None else None,
            "warming_s": round(warmed["warm_seconds"], 2) if warmed and warmed["warm_seconds"] is not None else None,
            "p50_s": round(statistics.median(later), 3) if later else None,
            "max_s": round(max(later), 3) if later else None,
            "refusals": cold["refusals"] + (warmed["refusals"] if warmed else []),
        }
        results[action] = row

        def cell(value, width):
            return f"{value:>{width}.2f}" if value is not None else f"{'-':>{width}}"

        print(
            f"{ACTIONS[action]:<28} {cell(row['cold_first_s'], 9)} {cell(row['warmed_first_s'], 11)} "
            f"{cell(row['p50_s'], 9)} {cell(row['max_s'], 9)} {cell(row['warming_s'], 8)}  "
            f"{len(row['refusals'])}{': ' + row['refusals'][0] if row['refusals'] else ''}"
        )
    print(json.dumps({"repeats": args.repeats, "actions": results}))


if __name__ == "__main__":
    main()
