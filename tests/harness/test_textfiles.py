"""Run, qrels and JSON-lines files: one reader, the same rules for all (trec_eval's where it has one)."""

import pytest

from harness.core.errors import MireEvalError
from harness.core.runs import read_qrels, read_trec_run, write_trec_run
from harness.core.textfiles import iter_json_lines, load_json

BOM = b"\xef\xbb\xbf"
RUN = b"q1 Q0 p1 1 2.5 t\nq1 Q0 p2 2 1.0 t\n"
QRELS = b"query-id\tcorpus-id\tscore\nq1\tp1\t1\n"


def one_line_error(call, pattern):
    with pytest.raises(MireEvalError, match=pattern) as err:
        call()
    assert "\n" not in str(err.value)
    return str(err.value)


def test_utf8_bom_is_stripped_by_every_reader(tmp_path):
    (tmp_path / "r.trec").write_bytes(BOM + RUN)
    (tmp_path / "q.tsv").write_bytes(BOM + QRELS)
    (tmp_path / "q.trec").write_bytes(BOM + b"q1 0 p1 1\n")
    (tmp_path / "c.jsonl").write_bytes(BOM + b'{"_id": "p1", "text": "x"}\n')
    (tmp_path / "c.json").write_bytes(BOM + b'{"a": [1]}')
    assert read_trec_run(tmp_path / "r.trec") == {"q1": {"p1": 2.5, "p2": 1.0}}
    assert read_qrels(tmp_path / "q.tsv") == {"q1": {"p1": 1}} == read_qrels(tmp_path / "q.trec")
    assert list(iter_json_lines(tmp_path / "c.jsonl")) == [(1, {"_id": "p1", "text": "x"})]
    assert load_json(tmp_path / "c.json") == {"a": [1]}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_wide_encodings_are_one_line_errors(tmp_path, encoding):
    readers = {"r.trec": (RUN, read_trec_run), "q.tsv": (QRELS, read_qrels),
               "c.jsonl": (b'{"_id": "p1", "text": "x"}\n', lambda p: list(iter_json_lines(p))),
               "c.json": (b'{"a": 1}', load_json)}
    for name, (content, read) in readers.items():
        (tmp_path / name).write_text(content.decode(), encoding=encoding)
        one_line_error(lambda: read(tmp_path / name), rf"{name}:1: encoding: (UTF-16|UTF-32|NUL bytes)")


def test_invalid_utf8_names_file_and_line(tmp_path):
    (tmp_path / "c.jsonl").write_bytes(b'{"_id": "a", "text": "x"}\n{"_id": "b", "text": "caf\xe9"}\n')
    one_line_error(lambda: list(iter_json_lines(tmp_path / "c.jsonl")), r"c.jsonl:2: encoding: invalid UTF-8")
    (tmp_path / "q.tsv").write_bytes(QRELS + b"q\xff2\tp1\t1\n")
    one_line_error(lambda: read_qrels(tmp_path / "q.tsv"), r"q.tsv:3: encoding: invalid UTF-8")
    (tmp_path / "r.trec").write_bytes(RUN + b"q2 Q0 \xc3 1 1.0 t\n")
    one_line_error(lambda: read_trec_run(tmp_path / "r.trec"), r"r.trec:3: encoding: invalid UTF-8")
    (tmp_path / "c.json").write_bytes(b'{\n"a":\n"\xff"}')
    one_line_error(lambda: load_json(tmp_path / "c.json"), r"c.json:3: encoding: invalid UTF-8")


def test_deeply_nested_json_is_one_line(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "c.jsonl").write_text('{"_id": "a", "text": "x"}\n{"x": ' + deep + "}\n")
    one_line_error(lambda: list(iter_json_lines(tmp_path / "c.jsonl")), r"c.jsonl:2: malformed JSON line \(nested too deeply\)")
    (tmp_path / "c.json").write_text(deep)
    one_line_error(lambda: load_json(tmp_path / "c.json"), r"c.json: malformed JSON \(nested too deeply\)")


def test_duplicate_run_pair_names_both_lines(tmp_path):
    (tmp_path / "r.trec").write_text("q1 Q0 p1 1 2.0 t\nq1 Q0 p2 2 1.5 t\nq2 Q0 p1 1 1.0 t\nq1 Q0 p1 3 1.0 t\n")
    one_line_error(lambda: read_trec_run(tmp_path / "r.trec"),
                   r"r.trec:4: docid: 'p1' is ranked twice for query 'q1' \(lines 1 and 4\)")


@pytest.mark.parametrize("score", ["nan", "inf", "-inf", "NaN", "Infinity"])
def test_non_finite_run_scores_are_refused(tmp_path, score):
    (tmp_path / "r.trec").write_text(f"q1 Q0 p1 1 2.0 t\nq1 Q0 p2 2 {score} t\n")
    one_line_error(lambda: read_trec_run(tmp_path / "r.trec"), rf"r.trec:2: score: not a finite number: '{score}'")


@pytest.mark.parametrize("second", ["q1\tp1\t1", "q1\tp1\t2", "q1 p1 0"])
def test_duplicate_qrels_pair_names_both_lines_whatever_the_grades(tmp_path, second):
    (tmp_path / "q.tsv").write_text(f"query-id\tcorpus-id\tscore\nq1\tp1\t1\nq2\tp1\t1\n{second}\n")
    one_line_error(lambda: read_qrels(tmp_path / "q.tsv"),
                   r"q.tsv:4: corpus-id: 'p1' is judged twice for query 'q1' \(lines 2 and 4\)")


@pytest.mark.parametrize("line, field", [("q 1\tp1\t1", "query-id"), ("q1\tp 1\t1", "corpus-id"),
                                         ("\tp1\t1", "query-id")])
def test_qrels_ids_that_a_run_cannot_carry_are_refused(tmp_path, line, field):
    (tmp_path / "q.tsv").write_text(f"query-id\tcorpus-id\tscore\n{line}\n")
    one_line_error(lambda: read_qrels(tmp_path / "q.tsv"), rf"q.tsv:2: field '{field}': ")


def test_written_run_reads_back_exactly_even_for_near_ties(tmp_path):
    # 6-decimal rounding would tie these and the pid tie-break would swap them.
    run = {"q1": {"a": 0.1234561, "b": 0.1234564, "c": float("1e-9")}, "q2": {"a": -3.0}}
    write_trec_run(run, tmp_path / "r.trec", tag="t")
    assert read_trec_run(tmp_path / "r.trec") == run
    lines = (tmp_path / "r.trec").read_text().splitlines()
    assert [line.split()[2] for line in lines[:3]] == ["b", "a", "c"]


def test_writer_refuses_what_the_reader_cannot_read(tmp_path):
    one_line_error(lambda: write_trec_run({"q 1": {"p": 1.0}}, tmp_path / "r.trec", tag="t"), r"'q 1' contains whitespace")
    one_line_error(lambda: write_trec_run({"q": {"p\t2": 1.0}}, tmp_path / "r.trec", tag="t"), r"contains whitespace")
    one_line_error(lambda: write_trec_run({"q": {"p": float("nan")}}, tmp_path / "r.trec", tag="t"), r"score nan")


def test_blank_lines_and_crlf_are_accepted(tmp_path):
    (tmp_path / "r.trec").write_bytes(b"q1 Q0 p1 1 2.0 t\r\n\r\nq1 Q0 p2 2 1.0 t\r\n")
    (tmp_path / "q.tsv").write_bytes(b"query-id\tcorpus-id\tscore\r\nq1\tp1\t1\r\n")
    assert read_trec_run(tmp_path / "r.trec") == {"q1": {"p1": 2.0, "p2": 1.0}}
    assert read_qrels(tmp_path / "q.tsv") == {"q1": {"p1": 1}}


@pytest.mark.parametrize("record, field", [
    (r'{"_id": "b", "text": "\ud800 half a pair"}', "text"),
    (r'{"_id": "b", "title": "x\uDFFF"}', "title"),
    (r'{"_id": "b", "answers": ["ok", "\udc00"]}', r"answers\[1\]"),
])
def test_lone_surrogate_escapes_are_refused_where_they_are(tmp_path, record, field):
    """``\\ud800`` is valid JSON but not Unicode: nothing downstream (pyarrow, hashing) can encode it."""
    (tmp_path / "c.jsonl").write_text('{"_id": "a", "text": "x"}\n' + record + "\n")
    one_line_error(lambda: list(iter_json_lines(tmp_path / "c.jsonl")),
                   rf"c.jsonl:2: {field}: not valid Unicode \(lone surrogate\)")


def test_escaped_surrogate_pairs_are_ordinary_text(tmp_path):
    (tmp_path / "c.jsonl").write_text(r'{"_id": "a", "text": "fox \ud83e\udd8a"}' + "\n")
    assert list(iter_json_lines(tmp_path / "c.jsonl")) == [(1, {"_id": "a", "text": "fox \U0001f98a"})]


@pytest.mark.parametrize("line", ["q1\t0\tp1\t1", "q1 0 p1 1", "q1\tp1", "q1\tp1\t1\textra"])
def test_after_a_beir_header_every_qrels_line_has_exactly_three_columns(tmp_path, line):
    """A 4-column line is TREC only in a file without the BEIR header; under it, it is a mistake."""
    (tmp_path / "q.tsv").write_text(f"query-id\tcorpus-id\tscore\nq0\tp0\t1\n{line}\n")
    one_line_error(lambda: read_qrels(tmp_path / "q.tsv"),
                   r"q.tsv:3: columns: \d found; after the BEIR header a qrels line is query-id, corpus-id, score")


def test_qrels_header_separated_by_spaces_is_read_and_an_odd_header_refused(tmp_path):
    (tmp_path / "q.tsv").write_text("query-id corpus-id score\nq1 p1 1\nq2 p2 0\n")
    assert read_qrels(tmp_path / "q.tsv") == {"q1": {"p1": 1}, "q2": {"p2": 0}}
    (tmp_path / "q.tsv").write_text("query-id\tdoc-id\tscore\nq1\tp1\t1\n")
    one_line_error(lambda: read_qrels(tmp_path / "q.tsv"), r"q.tsv:1: header: expected query-id corpus-id score")
    (tmp_path / "q.trec").write_text("q1 0 p1 1\nq2 0 p2 2\n")  # TREC, no header: still read
    assert read_qrels(tmp_path / "q.trec") == {"q1": {"p1": 1}, "q2": {"p2": 2}}
