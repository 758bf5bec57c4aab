"""Corpora without a network: the built-in ones from text already on the machine, local files, and Hugging Face
datasets from the local cache; and the identity that keeps windows of a changed corpus apart."""

import itertools
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from transformers import AutoTokenizer

from features.pipeline import builtin_corpora, corpus_files
from features.pipeline.corpus import (
    DOCUMENT_BREAK,
    builtin_corpus_names,
    corpus_documents,
    corpus_identity,
    is_builtin,
    make_windows,
    token_display_strings,
    with_text_field,
)
from features.pipeline.errors import PipelineInputError
from tests.conftest import MINILM_DIR


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(MINILM_DIR, local_files_only=True)


def first(spec: str, count: int) -> list[str]:
    return list(itertools.islice(corpus_documents(spec), count))


# --- built-in corpora -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", builtin_corpus_names())
def test_every_builtin_corpus_gives_cased_prose_in_the_same_order_each_time(name):
    documents = first(name, 5)
    assert len(documents) == 5
    assert documents == first(name, 5)
    assert any(character.isupper() for document in documents for character in document)
    assert is_builtin(name)


def test_python_docs_hold_the_zen_of_python_decoded_not_executed():
    zen = first("builtin:python-docs", 1)[0]
    assert zen.startswith("The Zen of Python, by Tim Peters\n\nBeautiful is better than ugly.")
    assert "Namespaces are one honking great idea" in zen


def test_the_default_mix_takes_one_document_from_each_part_in_turn():
    parts = [first(f"builtin:{part}", 1)[0] for part in builtin_corpora.MIX_PARTS]
    assert first("builtin", len(parts)) == parts
    assert first("builtin:mix", len(parts)) == parts


def test_a_licence_paragraph_shared_by_packages_appears_once():
    paragraphs = [
        " ".join(paragraph.lower().split())
        for document in corpus_documents("builtin:licenses")
        for paragraph in document.split("\n\n")
    ]
    assert len(paragraphs) > 50
    assert len(paragraphs) == len(set(paragraphs))


def test_package_readmes_are_read_without_their_markup():
    documents = first("builtin:package-docs", 40)
    text = "\n".join(documents)
    assert len(documents) == 40
    for noise in ("```", "[![", "](http", ".. code-block::", "<img", "<!--"):
        assert noise not in text


def test_markup_is_cleaned_to_its_prose():
    readme = """# Widget

[![build](https://ci.example/badge.svg)](https://ci.example)

Widget makes **bold** claims about [its speed](https://example.com) and `fast()` calls.

```python
import widget
widget.run()
```

Install it::

    pip install widget

Usage
=====

See the :func:`widget.run` docs and `the guide <https://example.com/guide>`_.
"""
    assert builtin_corpora.clean_markup(readme) == (
        "Widget\n\nWidget makes bold claims about its speed and fast() calls.\n\nInstall it:\n\nUsage\n\n"
        "See the widget.run docs and the guide."
    )


def test_an_unknown_builtin_corpus_lists_the_known_ones():
    with pytest.raises(PipelineInputError, match="builtin:python-docs"):
        corpus_documents("builtin:nope")
    assert not is_builtin("builtin:nope") and not is_builtin("/tmp/builtin")


def test_a_builtin_corpus_identity_names_its_files_and_python():
    identity = corpus_identity("builtin:python-docs")
    assert identity["kind"] == "builtin" and identity["name"] == "python-docs"
    assert identity["files"] == 2 and len(identity["files_sha256"]) == 64
    assert identity == corpus_identity("builtin:python-docs")
    assert corpus_identity("builtin") == corpus_identity("builtin:mix")


# --- local files ----------------------------------------------------------------------------------------


def test_a_text_file_is_split_into_documents_on_blank_lines(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("First line\nsame document.\n\n\nSecond document.\n")
    assert list(corpus_documents(str(path))) == ["First line\nsame document.", "Second document."]


def test_a_jsonl_file_reads_the_field_named_after_a_hash(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_text('{"body": "One post.", "text": 1}\n\n{"body": "Two posts."}\n')
    assert list(corpus_documents(f"{path}#body")) == ["One post.", "Two posts."]
    with pytest.raises(PipelineInputError, match="line 1: expected an object with a 'text' string"):
        list(corpus_documents(str(path)))


def test_the_text_field_option_names_the_field_and_a_hash_in_a_real_file_name_is_kept(tmp_path):
    assert with_text_field("posts.jsonl", "body") == "posts.jsonl#body"
    assert with_text_field("posts.jsonl", "") == with_text_field("posts.jsonl", "text") == "posts.jsonl"
    path = tmp_path / "notes#2.txt"
    path.write_text("A file whose name holds a hash.")
    assert list(corpus_documents(str(path))) == ["A file whose name holds a hash."]


def test_a_parquet_file_reads_its_text_column_or_the_one_named(tmp_path):
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"text": ["Alpha row.", None, "Beta row."], "title": ["a", "b", "c"]}), path)
    assert list(corpus_documents(str(path))) == ["Alpha row.", "Beta row."]
    assert list(corpus_documents(f"{path}#title")) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("make", "spec_suffix", "message"),
    [
        (lambda path: None, "", "does not exist"),
        (lambda path: pq.write_table(pa.table({"body": ["x"]}), path), "", "no column 'text'; its columns: body"),
        (lambda path: pq.write_table(pa.table({"text": [1, 2]}), path), "", "column 'text' holds int64, not strings"),
        (lambda path: path.write_bytes(b"not parquet at all"), "", "is not a parquet file"),
    ],
)
def test_a_malformed_parquet_file_is_refused_with_the_reason(tmp_path, make, spec_suffix, message):
    path = tmp_path / "bad.parquet"
    make(path)
    with pytest.raises(PipelineInputError, match=message):
        list(corpus_documents(f"{path}{spec_suffix}"))


def test_a_jsonl_value_that_is_not_a_string_is_refused(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": ["a", "list"]}\n')
    with pytest.raises(PipelineInputError, match="bad.jsonl line 1"):
        list(corpus_documents(str(path)))


def test_a_huge_line_is_refused_rather_than_read_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_files, "MAX_LINE_BYTES", 100)
    for name in ("huge.txt", "huge.jsonl"):
        path = tmp_path / name
        path.write_text('{"text": "short"}\n' + "x" * 200 + "\n")
        with pytest.raises(PipelineInputError, match=f"{name} line 2 is over"):
            list(corpus_documents(str(path)))


def test_an_empty_file_gives_no_windows_and_says_so(tmp_path, tokenizer):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    with pytest.raises(PipelineInputError, match="is empty"):
        make_windows(tokenizer, corpus_documents(str(path)), n_windows=2, window_len=16, corpus_name=str(path))


def test_a_file_edited_under_the_same_name_gets_new_windows_key(tmp_path, tokenizer):
    path = tmp_path / "corpus.txt"

    def key() -> str:
        spec = str(path)
        return make_windows(
            tokenizer,
            corpus_documents(spec),
            n_windows=1,
            window_len=8,
            corpus_name=spec,
            identity=corpus_identity(spec),
        ).key

    path.write_text("The first version of this corpus has words enough for one window.")
    before = key()
    assert key() == before
    path.write_text("The second version of this corpus has words enough for one window.")
    assert key() != before
    assert corpus_identity(str(path))["sha256"] == corpus_files.file_sha256(path)


# --- Hugging Face datasets from the local cache ----------------------------------------------------------

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A hub cache holding one dataset repository, laid out as huggingface_hub leaves it."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    repo = tmp_path / "hf" / "hub" / "datasets--acme--tiny-stories"
    data = repo / "snapshots" / COMMIT / "data"
    data.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    pq.write_table(pa.table({"text": ["Once upon a time.", "The end."]}), data / "train-00000-of-00001.parquet")
    pq.write_table(pa.table({"text": ["A test story."]}), data / "test-00000-of-00001.parquet")
    return tmp_path / "hf"


def test_a_dataset_in_the_hub_cache_is_read_offline(hub_cache):
    assert list(corpus_documents("datasets:acme/tiny-stories")) == ["Once upon a time.", "The end."]
    assert list(corpus_documents("datasets:acme/tiny-stories:test")) == ["A test story."]
    assert list(corpus_documents(f"datasets:acme/tiny-stories@{COMMIT}:test")) == ["A test story."]


def test_a_cached_dataset_identity_names_its_commit(hub_cache):
    assert corpus_identity("datasets:acme/tiny-stories:test") == {
        "kind": "dataset",
        "name": "acme/tiny-stories",
        "config": None,
        "split": "test",
        "revision": COMMIT,
        "field": "text",
    }


def test_a_split_or_column_the_dataset_lacks_is_refused(hub_cache):
    with pytest.raises(PipelineInputError, match="validation"):
        list(corpus_documents("datasets:acme/tiny-stories:validation"))
    with pytest.raises(PipelineInputError, match="no column 'story'"):
        list(corpus_documents("datasets:acme/tiny-stories#story"))


def test_a_revision_not_in_the_cache_is_refused_naming_the_cached_one(hub_cache):
    with pytest.raises(PipelineInputError, match=f"holds acme/tiny-stories at {COMMIT}"):
        list(corpus_documents("datasets:acme/tiny-stories@v2"))


def test_a_dataset_not_in_the_cache_names_where_it_looked_and_downloads_nothing(hub_cache):
    with pytest.raises(PipelineInputError, match="not in the local cache") as error:
        list(corpus_documents("datasets:acme/absent"))
    assert "datasets--acme--absent/snapshots" in str(error.value) and "Nothing is downloaded" in str(error.value)
    with pytest.raises(PipelineInputError, match="not in the local cache"):
        corpus_identity("datasets:acme/absent")


def test_a_dataset_prepared_by_load_dataset_is_read_from_the_datasets_cache(hub_cache):
    """What `load_dataset` leaves in $HF_HOME/datasets: Arrow files per split beside dataset_info.json."""
    directory = hub_cache / "datasets" / "acme___news" / "sports" / "1.0.0" / "f1ngerpr1nt"
    directory.mkdir(parents=True)
    (directory / "dataset_info.json").write_text(json.dumps({"dataset_name": "news"}))
    table = pa.table({"text": ["Goal in the last minute.", "A draw."]})
    with pa.OSFile(str(directory / "news-train.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as out:
        out.write_table(table)
    assert list(corpus_documents("datasets:acme/news:sports:train")) == ["Goal in the last minute.", "A draw."]
    identity = corpus_identity("datasets:acme/news:sports:train")
    assert (identity["config"], identity["version"], identity["fingerprint"]) == ("sports", "1.0.0", "f1ngerpr1nt")


def test_a_dataset_spec_with_too_many_parts_is_refused():
    with pytest.raises(PipelineInputError, match="datasets:NAME"):
        list(corpus_documents("datasets:a:b:c:d"))


# --- what a reader sees --------------------------------------------------------------------------------


def test_a_document_boundary_reads_as_a_paragraph_break_not_a_sep(tmp_path, tokenizer):
    path = tmp_path / "two.txt"
    path.write_text("First document here.\n\nSecond one.\n")
    windows = make_windows(tokenizer, corpus_documents(str(path)), n_windows=1, window_len=10, corpus_name="two")
    ids = windows.token_ids[0]
    shown = token_display_strings(tokenizer, ids)
    # The model saw [CLS] first [SEP] second ... [SEP]; the stored ids say so.
    assert ids.count(tokenizer.sep_token_id) == 2
    assert shown[0] == "[CLS]" and shown[-1] == "[SEP]"
    assert "[SEP]" not in shown[1:-1]
    assert "".join(shown[1:-1]) == f" first document here .{DOCUMENT_BREAK}second one ."


def test_a_window_shows_the_corpus_own_characters_where_the_tokenizer_is_uncased(tokenizer):
    documents = ["The Café costs $3.50.\nNext   line", "Second Document, naïve. A third sentence follows."]
    windows = make_windows(tokenizer, documents, n_windows=2, window_len=12, corpus_name="c", display_for=[0, 1])
    # MiniLM lowercases and strips accents: the ids are "the cafe ..."; a reader sees the text as written.
    assert token_display_strings(tokenizer, windows.token_ids[0])[1:3] == [" the", " cafe"]
    assert windows.display[0] == [
        "[CLS]", "The", " Café", " costs", " $", "3", ".", "50", ".", "\nNext", " line", "[SEP]"
    ]  # fmt: skip
    # The first document filled window 0 exactly, so window 1 starts at the second: no separator between.
    assert windows.display[1][:5] == ["[CLS]", "Second", " Document", ",", " naïve"]
    assert [len(shown) for shown in windows.display.values()] == [len(ids) for ids in windows.token_ids]


def test_only_the_windows_asked_for_get_display_strings(tokenizer, sample_corpus_file):
    spec = str(sample_corpus_file)
    windows = make_windows(
        tokenizer, corpus_documents(spec), n_windows=6, window_len=12, corpus_name=spec, display_for={4}
    )
    assert set(windows.display) == {4}
    plain = make_windows(tokenizer, corpus_documents(spec), n_windows=6, window_len=12, corpus_name=spec)
    assert plain.token_ids == windows.token_ids and plain.display == {}

    def letters(strings: list[str]) -> str:
        return "".join("".join(strings).lower().split())

    assert letters(windows.display[4]) == letters(token_display_strings(tokenizer, plain.token_ids[4]))
