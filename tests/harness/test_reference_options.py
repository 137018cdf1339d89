"""MIRe's passage punctuation follows the reference per task and setting (quirk Q3), unless -o says otherwise."""

import pytest

from harness.evaluate import RunSettings


@pytest.mark.parametrize("task, setting, expected", [
    ("evqa", "zero-shot", "keep"),  # indexed by the authors' MIRe indexer
    ("okvqa", "zero-shot", "skip"),  # plain ColBERTv2 indexes
    ("okvqa-wiki11m", "zero-shot", "skip"),
    ("remuq", "zero-shot", "skip"),
    ("okvqa", "fine-tuned", "keep"),  # every fine-tuned model: its own indexer
    ("remuq", "fine-tuned@mine", "keep"),
])
def test_mire_defaults_to_the_reference_punctuation(tmp_path, task, setting, expected):
    settings = RunSettings(task=task, retriever="mire", setting=setting, output=tmp_path)
    assert settings.retriever_options == {"passage_punctuation": expected}
    assert settings.identity()["retriever_options"] == {"passage_punctuation": expected}


def test_an_explicit_option_wins_and_other_cases_stay_as_they_were(tmp_path):
    mine = RunSettings(task="evqa", retriever="mire", output=tmp_path, retriever_options={"passage_punctuation": "skip"})
    assert mine.retriever_options == {"passage_punctuation": "skip"}
    assert RunSettings(task="infoseek", retriever="mire", output=tmp_path).retriever_options == {}  # not in the paper
    assert RunSettings(task="diagnostic", retriever="mire", setting="aligned", output=tmp_path).retriever_options == {}
    local = RunSettings(task="local:/x", retriever="mire", setting="fine-tuned", output=tmp_path)
    assert local.retriever_options == {}  # no reference run: the encoder's default
    assert RunSettings(task="evqa", retriever="colbertv2", output=tmp_path).retriever_options == {}
