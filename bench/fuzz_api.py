"""Fuzz the API with schemathesis against its own OpenAPI schema, on a live server, and count responses.

    python bench/fuzz_api.py [--max-examples 25] [--workers 2] [--seed 1] [--as-staff]

Builds a throwaway database (SQLite in a temporary directory, or DATABASE_URL's if set: use a dedicated
database, it is migrated and filled), with a tiny BERT run (real features, examples and windows),
explanations, scores, comments and a list; starts `manage.py runserver` on 127.0.0.1 with rate limits
lifted; runs `st run` on /api/v1/schema/ with an API key (every check; the HAR report records every
response); then prints the responses by status class and exits 1 if any was a 5xx.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNLIMITED = "1000000/s"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(var_dir: Path) -> dict:
    env = {
        **os.environ,
        "DJANGO_DEBUG": "1",
        "NEURONPEDIA_VAR_DIR": str(var_dir),
        "NEURONPEDIA_DATA_DIR": str(var_dir / "data"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "LOG_LEVEL": "ERROR",
    }
    for scope in ("USER", "ANON", "INFERENCE_USER", "INFERENCE_ANON", "EXPORT"):
        env[f"API_RATE_{scope}"] = UNLIMITED
    for action in ("EXPLANATION", "COMMENT", "VOTE", "REPORT", "LIST", "RUN"):
        env[f"WIKI_RATE_{action}"] = UNLIMITED
    return env


POPULATE = r"""
import sys
sys.path.insert(0, {root!r})
import django, torch
django.setup()
from pathlib import Path
from django.core.management import call_command
from django.contrib.auth import get_user_model
from transformers import BertConfig, BertModel
call_command("migrate", verbosity=0)
from tests.conftest import SAMPLE_TEXT, _save_with_minilm_tokenizer
from features.services.activation_runs import activation_run_create, activation_run_start
from accounts.services import api_key_create
from explanations.services import comments as comment_services
from explanations.services import explanations as explanation_services
from explanations.services import lists as list_services
from features.models import Feature
from scoring.models import ExplanationScore

work = Path({work!r})
torch.manual_seed(0)
config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                    intermediate_size=48, max_position_embeddings=128)
model_dir = _save_with_minilm_tokenizer(BertModel(config), work / "tiny-bert")
corpus = work / "corpus.txt"
corpus.write_text(SAMPLE_TEXT * 3, encoding="utf-8")
run = activation_run_create(model_path=str(model_dir), model_slug="tiny-bert", layers=[0, 2],
                            corpus=str(corpus), n_windows=12, window_len=16, top_k=5, sync=True)
run = activation_run_start(run_id=run.pk)
assert run.status == "succeeded", run.error
user = get_user_model().objects.create_user("fuzzer", "fuzzer@example.com", "pw", is_staff={staff})
other = get_user_model().objects.create_user("other", "other@example.com", "pw")
features = list(Feature.objects.order_by("pk")[:6])
for number, feature in enumerate(features):
    explanation = explanation_services.explanation_create(
        feature=feature, text=f"explanation {{number}}", author=other, embed=False
    )
    ExplanationScore.objects.create(explanation=explanation, scorer="simulation", value=0.1 * number)
    comment_services.comment_post(author=other, feature=feature, body=f"comment {{number}}")
own = explanation_services.explanation_create(feature=features[0], text="mine", author=user, embed=False)
comment_services.comment_post(author=user, feature=features[0], body="my comment")
public = list_services.list_create(owner=other, name="public", is_public=True)
list_services.list_add_feature(feature_list=public, feature=features[1], user=other)
mine = list_services.list_create(owner=user, name="mine")
list_services.list_add_feature(feature_list=mine, feature=features[2], user=user)
print("KEY=" + api_key_create(user=user, name="fuzz")[1])
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--workers", default="2")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-staff", action="store_true", help="fuzz as a staff user (server-path uploads too)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="np-fuzz-"))
    env = environment(work / "var")
    started = time.monotonic()
    populate = POPULATE.format(root=str(ROOT), work=str(work), staff=args.as_staff)
    done = subprocess.run(
        [sys.executable, "-c", populate],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "neuronpedia.settings"},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(done.stdout, done.stderr, file=sys.stderr)
        return 2
    key = next(line[4:] for line in done.stdout.splitlines() if line.startswith("KEY="))
    print(f"database ready in {time.monotonic() - started:.1f} s ({work})")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_log = (work / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{base}/api/v1/ping/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        har = work / "responses.har"
        command = [
            str(Path(sys.executable).with_name("st")),
            "run",
            f"{base}/api/v1/schema/?format=json",
            "--url",
            base,
            "--header",
            f"X-Api-Key: {key}",
            "--checks",
            "all",
            "--max-examples",
            str(args.max_examples),
            "--workers",
            str(args.workers),
            "--seed",
            str(args.seed),
            "--continue-on-failure",
            "--report",
            "har",
            "--report-har-path",
            str(har),
            "--request-timeout",
            "60",
            "--suppress-health-check",
            "all",
        ]
        fuzz_started = time.monotonic()
        result = subprocess.run(command, cwd=work, capture_output=True, text=True)
        fuzz_seconds = time.monotonic() - fuzz_started
        (work / "schemathesis.txt").write_text(result.stdout + result.stderr)
        tail = result.stdout.strip().splitlines()[-40:]
        print("\n".join(tail))
        entries = json.loads(har.read_text())["log"]["entries"]
        statuses = Counter(entry["response"]["status"] for entry in entries)
        classes = Counter(f"{status // 100}xx" for status in statuses.elements())
        server_errors = {
            f"{entry['request']['method']} {entry['request']['url']}": entry["response"]["status"]
            for entry in entries
            if entry["response"]["status"] >= 500
        }
        print(f"\n{len(entries)} requests in {fuzz_seconds:.0f} s; by class: {dict(sorted(classes.items()))}")
        print(f"by status: {dict(sorted(statuses.items()))}")
        for request, status in list(server_errors.items())[:20]:
            print(f"  {status} {request}")
        summary = {
            "requests": len(entries),
            "by_class": dict(sorted(classes.items())),
            "by_status": {str(k): v for k, v in sorted(statuses.items())},
            "server_errors": len(server_errors),
            "schemathesis_exit": result.returncode,
            "max_examples": args.max_examples,
            "seed": args.seed,
            "as_staff": args.as_staff,
        }
        print(json.dumps(summary))
        return 1 if server_errors else 0
    finally:
        server.terminate()
        server.wait(timeout=30)
        server_log.close()
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
