"""Response-to-passage conversion and the R2P reader."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.index.retriever import EncoderRetriever
from harness.core.errors import MireEvalError
from harness.training.r2p import build_r2p, iter_json_items, r2p_document, read_r2p
from harness.core.types import Query
from tests.helpers.single_thread import one_thread  # noqa: F401


def test_document_layout_as_the_authors():
    hits = ["Robins are birds. They sing.. At dawn. Always.", "Worms live in soil. Birds eat them", "One"]
    assert r2p_document("a robin.", hits) == "Robins are birds. They sing a robin. Worms live in soil. Birds eat them One"
    assert r2p_document("a robin (bird).", hits[:1], remove_bracket=True) == \
        "Title: a robin . content: Robins are birds. They sing"


def test_streaming_reader_json_array_and_lines(tmp_path):
    items = [{"question": f"q{i}", "document": "d" * (i + 1), "image": "a.png"} for i in range(50)]
    (tmp_path / "a.json").write_text(json.dumps(items, indent=1))
    got = list(iter_json_items(tmp_path / "a.json", chunk=7))  # tiny chunks: items span reads
    assert [it for _, _, it in got] == items
    # json.dumps(indent=1): "[" on line 1, each item 5 lines ({, 3 fields, })
    assert [line for _, line, _ in got] == [2 + 5 * i for i in range(50)]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(x) for x in items[:3]) + "\n")
    assert [(i, n) for i, n, _ in iter_json_items(tmp_path / "a.jsonl")] == [(0, 1), (1, 2), (2, 3)]
    (tmp_path / "bad.json").write_text('[{"a": 1},\n {"b": ')
    with pytest.raises(MireEvalError, match="bad.json:2: invalid JSON"):
        list(iter_json_items(tmp_path / "bad.json"))


@pytest.mark.parametrize("name", ["qa.json", "qa.jsonl"])
@pytest.mark.parametrize("chunk", [3, 1 << 20])
def test_streaming_reader_invalid_utf8_is_one_line_naming_the_line(tmp_path, name, chunk):
    bad = tmp_path / name
    good = json.dumps({"question": "q", "document": "d"})
    body = (f"[\n{good},\n" if name.endswith(".json") else f"{good}\n").encode()
    bad.write_bytes(body + b'{"question": "caf\xe9"}' + (b"\n]" if name.endswith(".json") else b"\n"))
    with pytest.raises(MireEvalError, match=rf"{name}:{3 if name.endswith('.json') else 2}: encoding: invalid UTF-8"):
        list(iter_json_items(bad, chunk=chunk))


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
    with pytest.raises(MireEvalError, match=r"r2p.json:1: question"):
        read_r2p(tmp_path / "r2p.json", tmp_path / "img")


def test_build_r2p_end_to_end(tmp_path):
    from tests.helpers import tiny

    from retrievers.colbert import build

    kb = tmp_path / "kb.jsonl"
    kb.write_text("\n".join(json.dumps({"wikidata_id": f"Q{i}", "wikipedia_content": f" Text {i}. More {i}. Tail {i}."})
                            for i in range(6)))
    qa = tmp_path / "qa.json"
    items = [{"id": f"{i}_0", "question": f"q{i}", "document": f"response number {i}.", "image": "a.jpg"} for i in range(5)]
    qa.write_text(json.dumps(items))
    retriever = EncoderRetriever(build(str(tiny.write_colbert(tmp_path / "colbertv2.0")), query_maxlen=80, doc_maxlen=256))
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

    code = ("import sys, typer, harness.cli.r2p as c; app = typer.Typer(); c.register(app); "
            "assert 'torch' not in sys.modules; "
            "from typer.testing import CliRunner; r = CliRunner().invoke(app, ['build-r2p', '--help']); "
            "assert r.exit_code == 0 and '--kb' in r.output, r.output")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_read_kb_formats_in_chunks(tmp_path):
    from harness.training.r2p import read_kb

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


def _kb_and_qa(tmp_path, n_qa=5, bad_at=None):
    kb = tmp_path / "kb.jsonl"
    kb.write_text("\n".join(json.dumps({"_id": f"d{i}", "title": "", "text": f"Text {i}. More {i}."}) for i in range(4)))
    items = [{"question": f"q{i}", "document": f"response {i}.", "image": "a.jpg"} for i in range(n_qa)]
    if bad_at is not None:
        del items[bad_at]["document"]
    qa = tmp_path / "qa.json"
    qa.write_text(json.dumps(items, indent=1))
    return kb, qa


def _tiny_colbert(tmp_path):
    from tests.helpers import tiny

    from retrievers.colbert import build

    return build(str(tiny.write_colbert(tmp_path / "colbertv2.0")), query_maxlen=80, doc_maxlen=256)


def test_build_r2p_failure_leaves_no_output_and_no_temporary_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MIRE_EVAL_PROGRESS", "0")
    kb, qa = _kb_and_qa(tmp_path, bad_at=3)
    retriever = _tiny_colbert(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "out.json"
    with pytest.raises(MireEvalError, match=r"qa.json:17: document: missing"):  # item 3 starts on line 2 + 5 * 3
        build_r2p(qa, kb, out, retriever, k=2, batch_size=2)  # items 0-1 were already written
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    out.write_text("old")
    with pytest.raises(MireEvalError):
        build_r2p(qa, kb, out, retriever, k=2, batch_size=2)
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == sorted(before + ["out.json"])
    # MIRE_EVAL_PROGRESS=0: nothing on stderr but the error itself (no tqdm bar)
    kb, qa = _kb_and_qa(tmp_path)
    assert build_r2p(qa, kb, out, retriever, k=2, batch_size=2) == 5
    assert capsys.readouterr().err == ""
    assert len(json.loads(out.read_text())) == 5 and oct(out.stat().st_mode & 0o777) != oct(0o600)


@pytest.mark.parametrize("args, message", [
    (["--k", "0"], "error: --k: 0: must be at least 1"),
    (["--limit", "-1"], "error: --limit: -1: must be at least 1"),
    (["--batch-size", "0"], "error: --batch-size: 0: must be at least 1"),
    (["--output", "{tmp}"], "error: {tmp}: --output: is a directory; name a file to write"),
    (["--output", "{tmp}/kb.jsonl/out.json"], "error: {tmp}/kb.jsonl/out.json: --output: {tmp}/kb.jsonl is a file"),
])
def test_build_r2p_cli_refuses_bad_options_before_any_work(tmp_path, args, message):
    from typer.testing import CliRunner

    from harness.cli import app

    kb, qa = _kb_and_qa(tmp_path)
    args = [a.format(tmp=tmp_path) for a in args]
    output = [] if "--output" in args else ["--output", str(tmp_path / "out.json")]
    # a checkpoint that does not exist: the option error must come before the model loads
    r = CliRunner().invoke(app, ["build-r2p", "--qa", str(qa), "--kb", str(kb), "--checkpoint",
                                 str(tmp_path / "no-such-model"), *output, *args])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message.format(tmp=tmp_path)), r.output
    assert not list(tmp_path.glob("*.tmp")) and not (tmp_path / "out.json").exists()


def test_build_r2p_cli_invalid_utf8_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from harness.cli import app

    from tests.helpers import tiny

    checkpoint = str(tiny.write_colbert(tmp_path / "colbertv2.0"))
    kb, qa = _kb_and_qa(tmp_path)
    for bad in (qa, kb):
        saved = bad.read_bytes()
        bad.write_bytes(saved.replace(b"q1", b"q\xff") if bad == qa else saved.replace(b"Text 2", b"Text \xff"))
        r = CliRunner().invoke(app, ["build-r2p", "--qa", str(qa), "--kb", str(kb), "--checkpoint",
                                     checkpoint, "--output", str(tmp_path / "out.json")])
        line = 8 if bad == qa else 3  # item 1 opens on line 7, its "question" on 8
        assert r.exit_code == 2 and r.output.strip() == f"error: {bad}:{line}: encoding: invalid UTF-8", r.output
        bad.write_bytes(saved)


def test_read_kb_refuses_non_string_text_and_duplicate_ids(tmp_path):
    from harness.training.r2p import read_kb

    kb = tmp_path / "kb.jsonl"
    kb.write_text(json.dumps({"_id": "d1", "text": "a"}) + "\n" + json.dumps({"_id": "d2", "text": ["a", "b"]}) + "\n")
    with pytest.raises(MireEvalError, match=r"kb.jsonl:2: text: expected a string, got list"):
        read_kb(kb)
    kb.write_text(json.dumps([{"wikidata_id": "Q1", "wikipedia_content": "x"}, {"wikidata_id": "Q2", "wikipedia_content": 5}]))
    with pytest.raises(MireEvalError, match=r"kb.jsonl:1: wikipedia_content: expected a string, got int"):
        read_kb(kb)
    kb.write_text("".join(json.dumps({"_id": i, "text": "t"}) + "\n" for i in ("d1", "d2", "d1")))
    with pytest.raises(MireEvalError, match=r"kb.jsonl:3: id: 'd1' already used at line 1"):
        read_kb(kb, chunk=1)
    kb.write_text("".join(json.dumps({"_id": "d", "title": t, "text": "t"}) + "\n" for t in ("x", None)))
    with pytest.raises(MireEvalError, match="already used"):
        read_kb(kb)


def test_read_kb_arrow_corpus_errors_are_one_line(tmp_path):
    import pyarrow as pa

    from harness.training.r2p import read_kb
    from harness.core.types import Corpus

    with pytest.raises(MireEvalError, match=r"none.arrow: --kb: file not found"):
        read_kb(tmp_path / "none.arrow")
    (tmp_path / "junk.arrow").write_text("not arrow")
    with pytest.raises(MireEvalError, match=r"junk.arrow: --kb: not an Arrow IPC corpus"):
        read_kb(tmp_path / "junk.arrow")
    Corpus(pa.table({"_id": ["a", "b", "a"], "title": ["", "", ""], "text": ["x", "y", "z"]},
                    schema=Corpus.SCHEMA)).write_ipc(tmp_path / "dup.arrow")
    with pytest.raises(MireEvalError, match=r"dup.arrow: _id: 'a' appears more than once"):
        read_kb(tmp_path / "dup.arrow")
    Corpus(pa.table({"_id": ["a"], "title": [""], "text": ["x"]}, schema=Corpus.SCHEMA)).write_ipc(tmp_path / "ok.arrow")
    assert read_kb(tmp_path / "ok.arrow").ids == ["a"]
