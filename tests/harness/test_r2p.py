"""Response-to-passage conversion and the R2P reader."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.errors import MireEvalError
from harness.r2p import build_r2p, iter_json_items, r2p_document, read_r2p
from harness.types import Query
from tests.single_thread import one_thread  # noqa: F401

sys.path.insert(0, str(Path(__file__).parents[1] / "retrievers"))


def test_document_layout_as_the_authors():
    hits = ["Robins are birds. They sing.. At dawn. Always.", "Worms live in soil. Birds eat them", "One"]
    assert r2p_document("a robin.", hits) == "Robins are birds. They sing a robin. Worms live in soil. Birds eat them One"
    assert r2p_document("a robin (bird).", hits[:1], remove_bracket=True) == \
        "Title: a robin . content: Robins are birds. They sing"


def test_streaming_reader_json_array_and_lines(tmp_path):
    items = [{"question": f"q{i}", "document": "d" * (i + 1), "image": "a.png"} for i in range(50)]
    (tmp_path / "a.json").write_text(json.dumps(items, indent=1))
    got = list(iter_json_items(tmp_path / "a.json", chunk=7))  # tiny chunks: items span reads
    assert [it for _, it in got] == items
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(x) for x in items[:3]) + "\n")
    assert [i for i, _ in iter_json_items(tmp_path / "a.jsonl")] == [0, 1, 2]
    (tmp_path / "bad.json").write_text('[{"a": 1}, {"b": ')
    with pytest.raises(MireEvalError, match="bad.json"):
        list(iter_json_items(tmp_path / "bad.json"))


def test_read_r2p(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"")
    data = [{"id": "x_1", "question": "What bird?", "document": " A robin. ", "image": "a.png"}]
    (tmp_path / "r2p.json").write_text(json.dumps(data))
    (ex,) = read_r2p(tmp_path / "r2p.json", tmp_path / "img")
    assert ex.query.id == "x_1" and ex.query.text == "What bird?" and ex.positive.text == "A robin."
    assert ex.query.image.key.endswith("a.png")
    data[0]["image"] = "missing.png"
    (tmp_path / "r2p.json").write_text(json.dumps(data))
    with pytest.raises(MireEvalError, match="missing.png"):
        read_r2p(tmp_path / "r2p.json", tmp_path / "img")
    del data[0]["question"]
    (tmp_path / "r2p.json").write_text(json.dumps(data))
    with pytest.raises(MireEvalError, match="item 0: question"):
        read_r2p(tmp_path / "r2p.json", tmp_path / "img")


def test_build_r2p_end_to_end(tmp_path):
    import tiny

    from retrievers.colbert import build

    kb = tmp_path / "kb.jsonl"
    kb.write_text("\n".join(json.dumps({"wikidata_id": f"Q{i}", "wikipedia_content": f" Text {i}. More {i}. Tail {i}."})
                            for i in range(6)))
    qa = tmp_path / "qa.json"
    items = [{"id": f"{i}_0", "question": f"q{i}", "document": f"response number {i}.", "image": "a.jpg"} for i in range(5)]
    qa.write_text(json.dumps(items))
    retriever = build(str(tiny.write_colbert(tmp_path / "colbertv2.0")), query_maxlen=80, doc_maxlen=256)
    n = build_r2p(qa, kb, tmp_path / "out.json", retriever, k=3, batch_size=2)
    out = json.loads((tmp_path / "out.json").read_text())
    assert n == 5 and [o["id"] for o in out] == [it["id"] for it in items]
    for o, it in zip(out, items):
        assert o["answer"] == it["document"] and o["image"] == "a.jpg"
        run = retriever.search([Query("x", it["document"])], 3)["x"]
        texts = {f"Q{i}": f"Text {i}. More {i}. Tail {i}." for i in range(6)}
        assert o["document"] == r2p_document(it["document"], [texts[p] for p in run])
        assert o["document"].count("Tail") == 0 and it["document"] in o["document"]


def test_cli_registration_is_light():
    import subprocess

    code = ("import sys, typer, harness.cli_r2p as c; app = typer.Typer(); c.register(app); "
            "assert 'torch' not in sys.modules; "
            "from typer.testing import CliRunner; r = CliRunner().invoke(app, ['build-r2p', '--help']); "
            "assert r.exit_code == 0 and '--kb' in r.output, r.output")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_read_kb_formats_in_chunks(tmp_path):
    from harness.r2p import read_kb

    wiki = tmp_path / "wiki.jsonl"
    wiki.write_text("".join(json.dumps({"wikidata_id": f"Q{i}", "wikipedia_content": f"  text {i} "}) + "\n" for i in range(5)))
    corpus = read_kb(wiki, chunk=2)
    assert corpus.ids == [f"Q{i}" for i in range(5)] and corpus.texts()[4] == "text 4"
    beir = tmp_path / "corpus.jsonl"
    beir.write_text(json.dumps({"_id": "d1", "title": "T", "text": "body"}) + "\n")
    assert read_kb(beir)[0].contents == "T body"
    (tmp_path / "bad.jsonl").write_text(json.dumps({"x": 1}) + "\n")
    with pytest.raises(MireEvalError, match="neither wikipedia_content nor text"):
        read_kb(tmp_path / "bad.jsonl")
