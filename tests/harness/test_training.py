import json
import random

import pytest
import torch
from safetensors.torch import load_file
from tests.helpers.tiny_trainable import TinyTrainable, build_trainable, tiny_examples

from harness.training.contrastive import info_nce, score_matrix
from harness.core.errors import MireEvalError
from harness.index.exact import maxsim_scores
from harness.training.step import StepRunner, batch_passages
from harness.training.trainer import TrainConfig, latest_state, train
from tests.helpers.single_thread import one_thread  # noqa: F401



def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_maxsim_is_differentiable_and_masks_padding():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(3, 5, 8, generator=g, requires_grad=True)
    d = torch.randn(4, 7, 8, generator=g, requires_grad=True)
    q_mask = torch.rand(3, 5, generator=g) > 0.3
    d_mask = torch.rand(4, 7, generator=g) > 0.3
    q_mask[:, 0] = d_mask[:, 0] = True
    got = maxsim_scores(q, q_mask, d, d_mask)
    brute = torch.stack([torch.stack([
        sum((q[i, a] @ d[j, d_mask[j]].T).max() for a in range(5) if q_mask[i, a]) for j in range(4)]) for i in range(3)])
    torch.testing.assert_close(got, brute)
    got.sum().backward()
    assert q.grad[~q_mask].abs().sum() == 0  # padded query rows get no gradient
    assert d.grad[~d_mask].abs().sum() == 0  # padded passage tokens never win the max
    assert d.grad[d_mask].abs().sum() > 0


@pytest.mark.parametrize("similarity", ["cosine", "maxsim"])
@pytest.mark.parametrize("hard_negatives", [0, 1])
def test_gradcache_equals_full_batch_gradients(similarity, hard_negatives):
    examples = tiny_examples(8, with_negatives=True)
    passages = batch_passages(examples, hard_negatives, random.Random(0))
    torch.manual_seed(0)
    model = TinyTrainable(similarity, dropout=0.0)
    plain = StepRunner(model, TrainConfig(temperature=0.05), torch.device("cpu"))
    loss_plain, acc_plain = plain.run(examples, passages)
    expected = _grads(model)
    model.zero_grad(set_to_none=True)
    cached = StepRunner(model, TrainConfig(temperature=0.05, micro_batch=3), torch.device("cpu"))
    loss_cached, acc_cached = cached.run(examples, passages)
    got = _grads(model)
    assert loss_cached == pytest.approx(loss_plain, rel=1e-6) and acc_cached == acc_plain
    assert expected.keys() == got.keys() and len(got) == 3
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("similarity", ["cosine", "maxsim"])
def test_gradcache_replays_dropout(similarity):
    """With dropout on, the cached gradients equal those of the full-batch loss computed on
    micro-batch embeddings drawn in the same RNG order (second pass replays the masks)."""
    examples = tiny_examples(6)
    passages = [e.positive for e in examples]
    model = TinyTrainable(similarity, dropout=0.3).train()
    runner = StepRunner(model, TrainConfig(temperature=0.05, micro_batch=2), torch.device("cpu"))

    torch.manual_seed(7)
    embs = [runner._embed("query", [e.query for e in examples[i : i + 2]]) for i in range(0, 6, 2)]
    embs += [runner._embed("passage", passages[i : i + 2]) for i in range(0, 6, 2)]
    q, q_mask = runner._join([e for e, _ in embs[:3]], [m for _, m in embs[:3]])
    p, p_mask = runner._join([e for e, _ in embs[3:]], [m for _, m in embs[3:]])
    loss, _ = info_nce(score_matrix(similarity, q, q_mask, p, p_mask), torch.arange(6), 0.05)
    loss.backward()
    expected = _grads(model)
    model.zero_grad(set_to_none=True)

    torch.manual_seed(7)
    model.calls.clear()
    got_loss, _ = runner.run(examples, passages)
    first, second = model.calls[:6], model.calls[6:]
    for a, b in zip(first, second):  # the graph pass drew exactly the masks of the cached pass
        torch.testing.assert_close(a, b)
    assert got_loss == pytest.approx(loss.item(), rel=1e-6)
    for name, grad in _grads(model).items():
        torch.testing.assert_close(grad, expected[name], rtol=1e-5, atol=1e-6)


def test_hard_negatives_sampled_and_cycled():
    examples = tiny_examples(4, with_negatives=True)
    passages = batch_passages(examples, 3, random.Random(0))
    assert [p.id for p in passages[:4]] == ["p0", "p1", "p2", "p3"]
    assert len(passages) == 4 + 4 * 3
    assert [p.id for p in passages[4:7]] == ["p1", "p2", "p1"]  # two negatives, cycled to three
    with pytest.raises(MireEvalError, match="no negatives"):
        batch_passages(tiny_examples(2), 1, random.Random(0))


def test_duplicate_positives_can_be_masked():
    examples = tiny_examples(4, with_negatives=True)  # q0's negatives include p1, q1's positive
    passages = batch_passages(examples, 2, random.Random(0))
    model = TinyTrainable("cosine")
    torch.manual_seed(0)
    plain, _ = StepRunner(model, TrainConfig(), torch.device("cpu")).run(examples, passages)
    masked, _ = StepRunner(model, TrainConfig(mask_duplicate_positives=True), torch.device("cpu")).run(
        examples, passages
    )
    assert masked < plain  # fewer (false) negatives in every row's denominator


def _build(checkpoint, similarity="cosine", dropout=0.1):
    if checkpoint is None:
        return TinyTrainable(similarity, dropout=dropout)
    return build_trainable(checkpoint)


def test_training_lowers_loss_and_saves_loadable_model(tmp_path):
    examples = tiny_examples(24)
    config = TrainConfig(epochs=6, lr=0.05, batch_size=8, micro_batch=3, temperature=0.1, warmup=2, seed=1)
    result = train(_build, examples, config, tmp_path, progress=False)
    losses = [h["loss"] for h in result.history]
    assert result.steps == 18 and len(losses) == 18
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3
    assert [h["lr"] for h in result.history[:3]] == pytest.approx([0.0, 0.025, 0.05])  # warm-up then constant
    assert result.history[-1]["lr"] == pytest.approx(0.05)
    reloaded = build_trainable(result.model_dir).eval()
    batch = reloaded.collate_queries([examples[0].query])
    model = build_trainable(latest_state(tmp_path) / "model").eval()
    torch.testing.assert_close(reloaded.embed_queries(batch)[0], model.embed_queries(batch)[0])
    summary = json.loads((result.model_dir / "training.json").read_text())
    assert summary["steps"] == 18 and summary["config"]["micro_batch"] == 3
    assert len(list((tmp_path / "steps").glob("step-*"))) == 2  # keep_last
    assert not list(tmp_path.rglob("*.pt*")) and not list(tmp_path.rglob("*.bin"))  # no pickle anywhere


@pytest.mark.parametrize("similarity", ["cosine", "maxsim"])
def test_resume_continues_identically(tmp_path, similarity):
    examples = tiny_examples(24, with_negatives=True)
    config = TrainConfig(epochs=2, lr=0.02, batch_size=6, micro_batch=4, temperature=0.1, warmup=3,
                         hard_negatives=1, seed=3)
    build = lambda c: _build(c, similarity)  # noqa: E731
    straight = train(build, examples, config, tmp_path / "a", progress=False)
    first = TrainConfig(**{**config.__dict__, "max_steps": 3})
    train(build, examples, first, tmp_path / "b", progress=False)  # stops mid-epoch at step 3
    resumed = train(build, examples, config, tmp_path / "b", resume=True, progress=False)
    assert straight.steps == resumed.steps == 8
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    a = load_file(str(straight.model_dir / "model.safetensors"))
    b = load_file(str(resumed.model_dir / "model.safetensors"))
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)
    history = [json.loads(line) for line in (tmp_path / "b" / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == list(range(1, 9))
    with pytest.raises(MireEvalError, match="data position would not carry over"):
        train(build, examples, TrainConfig(**{**config.__dict__, "batch_size": 4}), tmp_path / "b", resume=True,
              progress=False)


def test_too_little_data_and_bad_options_are_one_line_errors(tmp_path):
    with pytest.raises(MireEvalError, match="fewer than one batch"):
        train(_build, tiny_examples(3), TrainConfig(batch_size=4), tmp_path, progress=False)
    for bad, message in [({"temperature": 0.0}, "temperature: must be > 0"), ({"micro_batch": 0}, "micro_batch"),
                         ({"precision": "fp8"}, "known: auto")]:
        with pytest.raises(MireEvalError, match=message):
            train(_build, tiny_examples(8), TrainConfig(**bad), tmp_path, progress=False)


def _distributed_worker(rank, world, init_file, out_dir, similarity):
    import torch.distributed as dist
    from safetensors.torch import save_file

    from harness.training.step import _all_reduce_grads

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    examples = tiny_examples(8, with_negatives=True)[rank * 4 : rank * 4 + 4]
    passages = batch_passages(examples, 1, random.Random(0))
    torch.manual_seed(0)
    model = TinyTrainable(similarity)
    runner = StepRunner(model, TrainConfig(temperature=0.05, micro_batch=3, cross_device_negatives=True),
                        torch.device("cpu"))
    loss, _ = runner.run(examples, passages)
    _all_reduce_grads([p for p in model.parameters()], world)
    save_file({n: p.grad for n, p in model.named_parameters()}, f"{out_dir}/grads{rank}.safetensors")
    save_file({"loss": torch.tensor(loss)}, f"{out_dir}/loss{rank}.safetensors")
    dist.destroy_process_group()


def test_cross_device_negatives_equal_one_big_batch(tmp_path, similarity="maxsim"):
    """Two gloo processes with 4 examples each and gathered (padded) token matrices give the
    gradients of one process holding all 8 (the column order differs, the loss does not)."""
    import torch.multiprocessing as mp

    mp.start_processes(_distributed_worker, args=(2, str(tmp_path / "init"), str(tmp_path), similarity), nprocs=2,
                       start_method="fork")
    examples = tiny_examples(8, with_negatives=True)
    passages = [e.positive for e in examples]
    for half in (examples[:4], examples[4:]):
        passages += batch_passages(half, 1, random.Random(0))[4:]
    torch.manual_seed(0)
    model = TinyTrainable(similarity)
    loss, _ = StepRunner(model, TrainConfig(temperature=0.05), torch.device("cpu")).run(examples, passages)
    losses = [load_file(str(tmp_path / f"loss{r}.safetensors"))["loss"].item() for r in (0, 1)]
    assert sum(losses) / 2 == pytest.approx(loss, rel=1e-5)
    for rank in (0, 1):
        grads = load_file(str(tmp_path / f"grads{rank}.safetensors"))
        for name, p in model.named_parameters():
            torch.testing.assert_close(grads[name], p.grad, rtol=1e-4, atol=1e-6)


def test_resume_from_a_damaged_state_is_one_line(tmp_path):
    """Each file of a saved step, damaged, ends --resume with one line naming it."""
    import shutil

    examples = tiny_examples(12)
    config = TrainConfig(epochs=2, lr=0.02, batch_size=6, warmup=0, seed=0)
    build = lambda c: _build(c, "cosine")  # noqa: E731
    first = TrainConfig(**{**config.__dict__, "max_steps": 1})
    train(build, examples, first, tmp_path / "run", progress=False)
    step = sorted((tmp_path / "run" / "steps").glob("step-*"))[-1]
    damages = {
        "state.json": lambda p: p.write_text("{not json"),
        "rng.safetensors": lambda p: p.write_bytes(p.read_bytes()[:20]),
        "optimizer.json": lambda p: p.write_text('{"param_groups": [], "scalars": {}}'),
        "history.jsonl": lambda p: p.write_text('{"step": 1}\nnot json\n'),
    }
    for name, damage in damages.items():
        run = tmp_path / f"run-{name}"
        shutil.copytree(tmp_path / "run", run)
        damage(run / name if name == "history.jsonl" else run / "steps" / step.name / name)
        with pytest.raises(MireEvalError) as err:
            train(build, examples, config, run, resume=True, progress=False)
        assert name in str(err.value) and "\n" not in str(err.value), (name, err.value)
