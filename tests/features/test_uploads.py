"""Uploading models and dictionaries, and starting runs, from the web (and the same bad dictionaries through
register_dictionary). Every refusal says why and leaves no row and no file behind."""

import json
import pickle
from pathlib import Path

import pytest
import torch
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django_q.models import OrmQ
from safetensors.torch import save_file

from features import uploads
from features.forms import DictionaryUploadForm
from features.models import LanguageModel, PipelineRun, Source
from features.pipeline.corpus import BUILTIN_CORPUS
from features.services import activation_runs, registration
from tests.conftest import save_tiny_dictionary

pytestmark = pytest.mark.django_db

HOOK = "blocks.1.hook_resid_pre"


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def data_dir(settings, tmp_path) -> Path:
    settings.NEURONPEDIA_DATA_DIR = tmp_path / "data"
    return settings.NEURONPEDIA_DATA_DIR


@pytest.fixture
def ada(db):
    return get_user_model().objects.create_user("ada", "ada@example.com", "pw")


@pytest.fixture
def client_ada(ada) -> Client:
    client = Client()
    client.force_login(ada)
    return client


@pytest.fixture
def gpt2(db, tiny_gpt2_dir) -> LanguageModel:
    return registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))


def stored_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if path.is_file()) if directory.exists() else []


def form_errors(response) -> str:
    form = response.context["form"]
    return " ".join(message for messages in form.errors.values() for message in messages)


def upload(path: Path, name: str = "") -> SimpleUploadedFile:
    return SimpleUploadedFile(name or path.name, path.read_bytes())


# --- Dictionaries ----------------------------------------------------------------------------------


def good_dictionary(directory: Path, **changes) -> Path:
    return save_tiny_dictionary(directory, "standard", d_in=32, d_sae=40, hook_name=HOOK, **changes)


def bad_dictionary(directory: Path, case: str) -> Path:
    """A dictionary directory with one thing wrong."""
    if case == "unknown hook":
        return save_tiny_dictionary(directory, "standard", d_in=32, d_sae=40, hook_name="blocks.9.hook_resid_pre")
    if case == "wrong width":
        return save_tiny_dictionary(directory, "standard", d_in=16, d_sae=40, hook_name=HOOK)
    good_dictionary(directory)
    weights = directory / "sae_weights.safetensors"
    config = directory / "cfg.json"
    if case == "pickle":
        weights.write_bytes(pickle.dumps({"W_enc": [[0.0] * 40] * 32}))
    elif case == "torch.save":
        torch.save({"W_enc": torch.zeros(32, 40)}, weights)
    elif case == "truncated":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif case == "shapes":
        save_file(
            {
                "W_enc": torch.zeros(16, 40),
                "W_dec": torch.zeros(40, 32),
                "b_enc": torch.zeros(40),
                "b_dec": torch.zeros(32),
            },
            weights,
        )
    elif case == "no d_sae":
        fields = json.loads(config.read_text())
        del fields["d_sae"]
        config.write_text(json.dumps(fields))
    elif case == "not json":
        config.write_text("{'d_in': 32, d_sae: 40")
    return directory


BAD_DICTIONARIES = [
    ("pickle", "sae_weights.safetensors is not a valid safetensors file"),
    ("torch.save", "sae_weights.safetensors is not a valid safetensors file"),
    ("truncated", "sae_weights.safetensors could not be read as safetensors"),
    ("shapes", "W_enc has shape [16, 40] but cfg.json (d_in=32, d_sae=40) implies [32, 40]"),
    ("no d_sae", "cfg.json lacks the field(s) d_sae"),
    ("not json", "cfg.json is not valid JSON"),
    ("unknown hook", "The model has no hook 'blocks.9.hook_resid_pre': it has layers 0 to 1."),
    ("wrong width", "The dictionary reads 16-dimensional vectors but blocks.1.hook_resid_pre of this model is 32"),
]


def post_dictionary(client: Client, directory: Path, *, slug: str = "1-res", hook_name: str = "", **files):
    data = {
        "slug": slug,
        "hook_name": hook_name,
        "config": files.get("config") or upload(directory / "cfg.json"),
        "weights": files.get("weights") or upload(directory / "sae_weights.safetensors"),
    }
    return client.post("/upload/dictionary/tiny-gpt2/", data)


def test_anonymous_visitors_are_sent_to_log_in(client, gpt2, data_dir, tiny_sae_dir):
    for url in ("/upload/model/", "/upload/dictionary/tiny-gpt2/", "/runs/new/tiny-gpt2/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={url}"
    response = post_dictionary(client, tiny_sae_dir)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not Source.objects.exists()
    assert stored_files(data_dir) == []


def test_the_upload_pages_show_their_forms_and_limits(client_ada, gpt2, settings):
    settings.NEURONPEDIA_MAX_DICTIONARY_BYTES = 3 * 1024**2
    content = client_ada.get("/upload/dictionary/tiny-gpt2/").content.decode()
    assert 'enctype="multipart/form-data"' in content
    assert 'name="weights"' in content and 'name="config"' in content
    assert "Up to 3.0\xa0MB in all." in content
    content = client_ada.get("/upload/model/").content.decode()
    assert 'name="files"' in content and "multiple" in content
    assert 'name="server_path"' not in content  # staff only


def test_the_upload_forms_help_text_keeps_its_placeholders(client_ada, gpt2):
    # Django writes help text as HTML: "/<name>/" once read as a tag and showed as "//".
    assert "will live at /&lt;name&gt;/." in client_ada.get("/upload/model/").content.decode()
    content = client_ada.get("/upload/dictionary/tiny-gpt2/").content.decode()
    assert "will live at /&lt;model&gt;/&lt;name&gt;/&lt;index&gt;/." in content


def test_a_valid_dictionary_upload_registers_a_source_and_stores_its_files(client_ada, gpt2, data_dir, tmp_path):
    directory = save_tiny_dictionary(tmp_path / "sae", "standard", d_in=32, d_sae=40, hook_name=HOOK)
    response = post_dictionary(client_ada, directory, slug="1-res-jb")
    source = Source.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/runs/new/tiny-gpt2/?dictionaries={source.pk}"
    assert (source.model, source.slug, source.kind, source.hook_name) == (gpt2, "1-res-jb", "sae", HOOK)
    assert (source.layer, source.n_features, source.set_name) == (1, 40, "res-jb")
    stored = Path(source.dictionary_path)
    assert stored.parent == data_dir / "dictionaries" / "tiny-gpt2" and stored.name.startswith("1-res-jb-")
    assert sorted(path.name for path in stored.iterdir()) == ["cfg.json", "sae_weights.safetensors"]
    assert (stored / "sae_weights.safetensors").read_bytes() == (directory / "sae_weights.safetensors").read_bytes()
    assert stored_files(data_dir) == sorted(stored.iterdir())  # nothing else, no staging leftovers
    follow = client_ada.get(response["Location"]).content.decode()
    assert "Registered tiny-gpt2/1-res-jb: sparse autoencoder with 40 features at blocks.1.hook_resid_pre." in follow
    assert f'value="{source.pk}" id="id_dictionaries_0" checked' in follow


def test_the_hook_name_field_overrides_the_one_in_cfg_json(client_ada, gpt2, data_dir, tiny_sae_dir):
    post_dictionary(client_ada, tiny_sae_dir, slug="0-res-post", hook_name="blocks.0.hook_resid_post")
    source = Source.objects.get()
    assert (source.hook_name, source.layer) == ("blocks.0.hook_resid_post", 0)


@pytest.mark.parametrize(("case", "message"), BAD_DICTIONARIES, ids=[case for case, _ in BAD_DICTIONARIES])
def test_a_bad_dictionary_upload_is_refused_with_its_reason_and_nothing_is_saved(
    case, message, client_ada, gpt2, data_dir, tmp_path
):
    response = post_dictionary(client_ada, bad_dictionary(tmp_path / "sae", case))
    assert response.status_code == 200
    assert message in form_errors(response)
    assert str(data_dir) not in form_errors(response)  # no server paths in messages
    assert not Source.objects.exists()
    assert stored_files(data_dir) == []
    assert list((data_dir / "dictionaries" / "tiny-gpt2").iterdir()) == []


def test_a_hook_the_model_lacks_given_in_the_form_is_refused(client_ada, gpt2, data_dir, tiny_sae_dir):
    response = post_dictionary(client_ada, tiny_sae_dir, hook_name="blocks.9.hook_resid_pre")
    assert "The model has no hook 'blocks.9.hook_resid_pre': it has layers 0 to 1." in form_errors(response)
    assert not Source.objects.exists() and stored_files(data_dir) == []


def test_pickled_weights_are_refused_by_their_name_before_anything_is_written(client_ada, gpt2, data_dir, tiny_sae_dir):
    weights = SimpleUploadedFile("sae_weights.pt", b"\x80\x04\x95 not even read")
    response = post_dictionary(client_ada, tiny_sae_dir, weights=weights)
    assert "sae_weights.pt: pickled weights (.bin, .pt, .pkl, ...) can run code" in form_errors(response)
    assert not Source.objects.exists() and stored_files(data_dir) == []


def test_an_oversized_dictionary_upload_is_refused_while_it_streams_in(
    client_ada, gpt2, data_dir, tiny_sae_dir, settings
):
    settings.NEURONPEDIA_MAX_DICTIONARY_BYTES = 2000  # cfg.json fits, the weights do not
    response = post_dictionary(client_ada, tiny_sae_dir)
    errors = form_errors(response)
    assert "The upload is larger than the limit of 2.0\xa0KB (sae_weights.safetensors went over it)." in errors
    assert not Source.objects.exists() and stored_files(data_dir) == []


def test_the_dictionary_form_checks_file_sizes_itself(gpt2, tiny_sae_dir, settings):
    settings.NEURONPEDIA_MAX_DICTIONARY_BYTES = 2000
    files = {"config": upload(tiny_sae_dir / "cfg.json"), "weights": upload(tiny_sae_dir / "sae_weights.safetensors")}
    form = DictionaryUploadForm({"slug": "1-res"}, files, model=gpt2)
    assert not form.is_valid()
    assert form.non_field_errors() == ["The upload is larger than the limit of 2.0\xa0KB."]


def test_a_source_name_already_taken_is_refused(client_ada, gpt2, data_dir, tiny_sae_dir):
    post_dictionary(client_ada, tiny_sae_dir, slug="1-res")
    response = post_dictionary(client_ada, tiny_sae_dir, slug="1-res")
    assert "tiny-gpt2 already has a source '1-res'; choose another name." in form_errors(response)
    assert Source.objects.count() == 1 and len(stored_files(data_dir)) == 2


def test_uploads_still_check_the_csrf_token(ada, gpt2, data_dir, tiny_sae_dir):
    # The upload views leave the middleware's CSRF check to themselves (to stream with a size limit).
    client = Client(enforce_csrf_checks=True)
    client.force_login(ada)
    assert post_dictionary(client, tiny_sae_dir).status_code == 403
    assert client.post("/upload/model/", {"slug": "m"}).status_code == 403
    assert client.post("/runs/new/tiny-gpt2/", {"layers": [0], "n_windows": 8}).status_code == 403
    assert not Source.objects.exists() and not PipelineRun.objects.exists()


@pytest.mark.parametrize(("case", "message"), BAD_DICTIONARIES, ids=[case for case, _ in BAD_DICTIONARIES])
def test_register_dictionary_refuses_the_same_bad_input_and_saves_nothing(case, message, gpt2, tmp_path):
    directory = bad_dictionary(tmp_path / "sae", case)
    with pytest.raises(CommandError) as refused:
        call_command("register_dictionary", str(directory), "--model", "tiny-gpt2", "--slug", "1-res")
    assert message in str(refused.value)
    assert not Source.objects.exists()


def test_register_dictionary_refuses_a_hook_the_model_lacks_given_on_the_command_line(gpt2, tiny_sae_dir):
    with pytest.raises(CommandError, match="The model has no hook 'blocks.9.hook_resid_pre'"):
        call_command(
            "register_dictionary",
            str(tiny_sae_dir),
            "--model",
            "tiny-gpt2",
            "--slug",
            "9-res",
            "--hook",
            "blocks.9.hook_resid_pre",
        )
    assert not Source.objects.exists()


# --- Models ------------------------------------------------------------------------------------------


def checkpoint_uploads(directory: Path, *, leave_out=(), extra=()) -> list[SimpleUploadedFile]:
    files = [upload(path) for path in sorted(directory.iterdir()) if path.name not in leave_out]
    return files + list(extra)


def post_model(client: Client, files, *, slug: str = "my-gpt2", **fields):
    return client.post("/upload/model/", {"slug": slug, "display_name": "My GPT-2", "files": files, **fields})


def test_a_valid_model_upload_registers_the_model_and_stores_its_files(client_ada, ada, data_dir, tiny_gpt2_dir):
    response = post_model(client_ada, checkpoint_uploads(tiny_gpt2_dir), description="Two layers, random weights.")
    assert response.status_code == 302 and response["Location"] == "/runs/new/my-gpt2/"
    model = LanguageModel.objects.get()
    assert (model.slug, model.display_name, model.architecture, model.n_layers, model.d_model) == (
        "my-gpt2", "My GPT-2", "gpt2", 2, 32,
    )  # fmt: skip
    assert model.created_by == ada and model.description == "Two layers, random weights."
    stored = Path(model.path)
    assert stored.parent == data_dir / "models" and stored.name.startswith("my-gpt2-")
    assert sorted(path.name for path in stored.iterdir()) == sorted(path.name for path in tiny_gpt2_dir.iterdir())
    assert (stored / "model.safetensors").read_bytes() == (tiny_gpt2_dir / "model.safetensors").read_bytes()
    assert len(stored_files(data_dir)) == len(list(tiny_gpt2_dir.iterdir()))
    page = client_ada.get(response["Location"]).content.decode()
    assert "Registered my-gpt2: gpt2, 2 layers, d_model 32." in page
    assert 'name="layers" value="0"' in page and 'name="layers" value="1"' in page


BAD_MODELS = [
    ("no config.json", {"leave_out": ["config.json"]}, "The checkpoint lacks config.json"),
    ("no tokenizer", {"leave_out": ["tokenizer.json", "tokenizer_config.json"]}, "lacks a tokenizer (tokenizer.json"),
    (
        "pickled weights",
        {"leave_out": ["model.safetensors"], "extra": [SimpleUploadedFile("pytorch_model.bin", b"\x80\x04K\x01.")]},
        "pytorch_model.bin: pickled weights (.bin, .pt, .pkl, ...) can run code when they are loaded",
    ),
    (
        "pickle named safetensors",
        {
            "leave_out": ["model.safetensors"],
            "extra": [SimpleUploadedFile("model.safetensors", pickle.dumps({"a": 1}))],
        },
        "model.safetensors is not a valid safetensors file",
    ),
    (
        "unknown file",
        {"extra": [SimpleUploadedFile("run.sh", b"rm -rf /")]},
        "run.sh is not part of a transformers checkpoint that we store",
    ),
]


@pytest.mark.parametrize(
    ("changes", "message"), [case[1:] for case in BAD_MODELS], ids=[case[0] for case in BAD_MODELS]
)
def test_a_bad_model_upload_is_refused_with_its_reason_and_nothing_is_saved(
    changes, message, client_ada, data_dir, tiny_gpt2_dir
):
    response = post_model(client_ada, checkpoint_uploads(tiny_gpt2_dir, **changes))
    assert response.status_code == 200
    assert message in form_errors(response)
    assert not LanguageModel.objects.exists()
    assert stored_files(data_dir) == []


def test_an_oversized_model_upload_is_refused(client_ada, data_dir, tiny_gpt2_dir, settings):
    settings.NEURONPEDIA_MAX_UPLOAD_BYTES = 100_000
    response = post_model(client_ada, checkpoint_uploads(tiny_gpt2_dir))
    errors = form_errors(response)
    assert "The upload is larger than the limit of 97.7\xa0KB" in errors
    assert "model.safetensors" in errors and "lacks" not in errors
    assert not LanguageModel.objects.exists() and stored_files(data_dir) == []


def test_file_names_from_the_client_lose_their_directories_and_must_be_checkpoint_files():
    assert uploads.base_name("../../config.json") == "config.json"
    assert uploads.base_name("C:\\Users\\ada\\gpt2\\vocab.txt") == "vocab.txt"
    assert uploads.checkpoint_name_problem("config.json") is None
    assert uploads.checkpoint_name_problem("model-00001-of-00002.safetensors") is None
    assert "not part of a transformers checkpoint" in uploads.checkpoint_name_problem("passwd")
    assert "is not a file name we accept" in uploads.checkpoint_name_problem(".hidden.safetensors")


def test_a_model_name_already_taken_or_reserved_is_refused(client_ada, gpt2, data_dir, tiny_gpt2_dir):
    response = post_model(client_ada, checkpoint_uploads(tiny_gpt2_dir), slug="tiny-gpt2")
    assert "A model named 'tiny-gpt2' already exists; choose another name." in form_errors(response)
    response = post_model(client_ada, checkpoint_uploads(tiny_gpt2_dir), slug="upload")
    assert "'upload' is reserved for a page of the site" in form_errors(response)
    assert LanguageModel.objects.count() == 1 and stored_files(data_dir) == []


def test_only_staff_may_register_a_directory_on_the_server(client_ada, ada, data_dir, tiny_gpt2_dir):
    response = post_model(client_ada, [], server_path=str(tiny_gpt2_dir))
    assert "Only staff can register a directory on the server; upload the files instead." in form_errors(response)
    assert not LanguageModel.objects.exists()

    ada.is_staff = True
    ada.save()
    response = post_model(client_ada, [], server_path=str(tiny_gpt2_dir))
    assert response.status_code == 302
    model = LanguageModel.objects.get()
    assert model.path == str(tiny_gpt2_dir.resolve()) and stored_files(data_dir) == []


def test_a_staff_server_path_is_checked_like_an_upload(client_ada, ada, tmp_path):
    ada.is_staff = True
    ada.save()
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(pickle.dumps({"a": 1}))
    (tmp_path / "tokenizer.json").write_text("{}")
    response = post_model(client_ada, [], server_path=str(tmp_path))
    assert "model.safetensors is not a valid safetensors file" in form_errors(response)
    assert not LanguageModel.objects.exists()


@pytest.mark.parametrize(
    "path, message",
    [
        ("/tmp/" + "a" * 300, "cannot be read: File name too long."),  # a name longer than the file system allows
        ("/tmp/" + "a" * 5000, "Ensure this value has at most 1000 characters"),
        ("/tmp/a\x00b", "Null characters are not allowed."),
        ("/" + "b/" * 400, "is not a directory."),
    ],
)
def test_a_staff_server_path_the_file_system_refuses_is_a_form_error(client_ada, ada, path, message):
    ada.is_staff = True
    ada.save()
    response = post_model(client_ada, [], server_path=path)
    assert response.status_code == 200
    assert message in form_errors(response)
    assert not LanguageModel.objects.exists()


def test_the_directory_check_turns_what_the_file_system_refuses_into_a_message():
    cases = {
        "/tmp/" + "a" * 5000: "Model path '/tmp/aaaa",
        "/tmp/a\x00b": "Model path '/tmp/a\\x00b' contains a NUL character",
        "~no-such-user-here/model": "cannot be read: Could not determine home directory.",
    }
    for path, message in cases.items():
        with pytest.raises(uploads.PipelineInputError) as raised:
            uploads.checkpoint_directory_check(path)
        assert message in str(raised.value)
        assert len(str(raised.value)) < 300  # a long path is cut, not quoted whole
    with pytest.raises(uploads.PipelineInputError, match=r"\(5,005 characters\) cannot be read: File name too long"):
        uploads.checkpoint_directory_check("/tmp/" + "a" * 5000)


@pytest.mark.parametrize(
    "path, message",
    [
        ("/tmp/" + "a" * 5000, "cannot be read: File name too long."),
        ("/tmp/a\x00b", "contains a NUL character"),
    ],
)
def test_register_model_reports_a_path_the_file_system_refuses(db, path, message):
    with pytest.raises(CommandError, match=message):
        call_command("register_model", path, "--slug", "broken")
    assert not LanguageModel.objects.exists()


def test_register_model_reports_pickled_or_incomplete_checkpoints(tmp_path, tiny_gpt2_dir):
    for path in tiny_gpt2_dir.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "model.safetensors").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CommandError, match="model.safetensors is not a valid safetensors file"):
        call_command("register_model", str(tmp_path), "--slug", "broken")
    (tmp_path / "model.safetensors").write_bytes((tiny_gpt2_dir / "model.safetensors").read_bytes()[:-64])
    with pytest.raises(CommandError, match="model.safetensors could not be read as safetensors"):
        call_command("register_model", str(tmp_path), "--slug", "broken")
    (tmp_path / "model.safetensors").write_bytes((tiny_gpt2_dir / "model.safetensors").read_bytes())
    (tmp_path / "tokenizer.json").unlink()
    (tmp_path / "tokenizer_config.json").unlink()
    with pytest.raises(CommandError, match="lacks a tokenizer"):
        call_command("register_model", str(tmp_path), "--slug", "broken")
    assert not LanguageModel.objects.exists()


# --- Starting runs -----------------------------------------------------------------------------------

RUN = {"layers": [0, 1], "n_windows": 8, "window_len": 12, "top_k": 3, "shard_windows": 4}


def test_the_run_form_starts_a_queued_run_on_the_task_queue(client_ada, ada, gpt2):
    response = client_ada.post("/runs/new/tiny-gpt2/", RUN)
    run = PipelineRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"
    assert (run.kind, run.status, run.model, run.created_by) == ("activations", "queued", gpt2, ada)
    params = run.params
    assert (params["layers"], params["dictionary_sources"], params["corpus"]) == ([0, 1], [], BUILTIN_CORPUS)
    assert (params["n_windows"], params["window_len"], params["top_k"], params["shard_windows"]) == (8, 12, 3, 4)
    assert params["sync"] is False
    queued = OrmQ.objects.get()
    assert (queued.func(), queued.args()) == ("features.tasks.start_activation_run", (run.pk,))
    assert run.task_id == queued.task_id()


def test_the_run_form_includes_chosen_dictionaries(client_ada, gpt2, tiny_sae_dir):
    source = registration.dictionary_register(model=gpt2, path=str(tiny_sae_dir), slug="1-res")
    form = client_ada.get("/runs/new/tiny-gpt2/").content.decode()
    assert f'name="dictionaries" value="{source.pk}"' in form and "tiny-gpt2/1-res" in form
    client_ada.post("/runs/new/tiny-gpt2/", {**RUN, "layers": [], "dictionaries": [source.pk]})
    assert PipelineRun.objects.get().params["dictionary_sources"] == [source.pk]


def test_an_uploaded_corpus_is_stored_by_its_content_and_used(client_ada, gpt2, data_dir):
    text = "The cat sat on the mat.\n\nA second document about dogs.\n"
    for _ in range(2):
        corpus = SimpleUploadedFile("my texts.txt", text.encode())
        assert client_ada.post("/runs/new/tiny-gpt2/", {**RUN, "corpus_file": corpus}).status_code == 302
    first, second = PipelineRun.objects.order_by("pk")
    stored = Path(first.params["corpus"])
    assert stored.parent == data_dir / "corpora" and stored.suffix == ".txt"
    assert stored.read_text() == text and second.params["corpus"] == str(stored)
    assert stored_files(data_dir) == [stored]


def test_a_corpus_that_does_not_parse_is_refused(client_ada, gpt2, data_dir):
    corpus = SimpleUploadedFile("texts.jsonl", b'{"text": "fine"}\nnot json\n')
    response = client_ada.post("/runs/new/tiny-gpt2/", {**RUN, "corpus_file": corpus})
    assert "texts.jsonl line 2: not JSON" in form_errors(response)
    corpus = SimpleUploadedFile("texts.csv", b"text\nhello\n")
    response = client_ada.post("/runs/new/tiny-gpt2/", {**RUN, "corpus_file": corpus})
    assert "A corpus is a .txt or a .jsonl file." in form_errors(response)
    assert not PipelineRun.objects.exists() and not OrmQ.objects.exists()
    assert stored_files(data_dir) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_windows": 0}, "Ensure this value is greater than or equal to 1."),
        ({"n_windows": activation_runs.MAX_WINDOWS + 1}, "Ensure this value is less than or equal to 1000000."),
        ({"window_len": 1}, "Ensure this value is greater than or equal to 2."),
        ({"top_k": 0}, "Ensure this value is greater than or equal to 1."),
        ({"layers": [7]}, "Layer 7 does not exist: tiny-gpt2 has layers 0 to 1."),
        ({"layers": []}, "Choose at least one layer or dictionary."),
        ({"dictionaries": [9999]}, "Select a valid choice. 9999 is not one of the available choices."),
    ],
)
def test_the_run_form_refuses_absurd_parameters(changes, message, client_ada, gpt2):
    response = client_ada.post("/runs/new/tiny-gpt2/", {**RUN, **changes})
    assert response.status_code == 200
    assert message in form_errors(response)
    assert not PipelineRun.objects.exists() and not OrmQ.objects.exists()


def test_starting_runs_is_rate_limited_per_user(client_ada, gpt2, settings):
    settings.WIKI_RATE_LIMITS = {**settings.WIKI_RATE_LIMITS, "run": "2/h"}
    assert client_ada.post("/runs/new/tiny-gpt2/", {**RUN, "n_windows": 0}).status_code == 200  # invalid: not counted
    for _ in range(2):
        assert client_ada.post("/runs/new/tiny-gpt2/", RUN).status_code == 302
    response = client_ada.post("/runs/new/tiny-gpt2/", RUN)
    assert response.status_code == 429
    assert "you can make 2 runs an hour. Try again in" in form_errors(response)
    assert PipelineRun.objects.count() == 2


def test_an_unknown_model_has_no_upload_or_run_page(client_ada):
    assert client_ada.get("/runs/new/gpt9/").status_code == 404
    assert client_ada.get("/upload/dictionary/gpt9/").status_code == 404


def test_the_run_form_offers_the_builtin_corpora(client_ada, gpt2):
    page = client_ada.get("/runs/new/tiny-gpt2/").content.decode()
    assert 'value="builtin:python-docs"' in page and 'value="builtin:licenses"' in page
    assert client_ada.post("/runs/new/tiny-gpt2/", {**RUN, "corpus": "builtin:python-docs"}).status_code == 302
    assert PipelineRun.objects.get().params["corpus"] == "builtin:python-docs"
    response = client_ada.post("/runs/new/tiny-gpt2/", {**RUN, "corpus": "/etc/passwd"})
    assert response.status_code == 200 and PipelineRun.objects.count() == 1
