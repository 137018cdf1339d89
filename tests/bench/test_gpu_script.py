"""bench/gpu.py, the GPU benchmark, runs end to end in its tiny CPU mode (its figures mean nothing
there; what is tested is that every section runs and writes what docs/benchmarks.md describes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_script_tiny_cpu(tmp_path):
    out = tmp_path / "bench-gpu.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MIRE_EVAL_PROGRESS": "0"}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--device", "cpu", "--tiny",
                           "--out", str(out)], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["label"].startswith("tiny") and result["errors"] == {}
    runs = result["maxsim"]["runs"]
    assert {(r["store"], r["compute"]) for r in runs} == {
        (s, c) for s in ("float16", "bfloat16") for c in ("float32", "bfloat16")}
    assert all(r["maxsim_gflops"] > 0 and r["ratio"] > 0 for r in runs)
    for name in ("mire", "jfe"):
        e = result[name]
        assert e["passages_per_s"] > 0 and e["queries_per_s"] > 0
        assert e["passage_overhead"] > 0 and e["query_overhead"] > 0
    ann = result["ann"]
    assert ann["assign_engine"] == "faiss-cpu" and ann["wiki11m"]["projected_assign_h"] > 0
    assert result["torchrun"] == {**result["torchrun"], "backend": "gloo", "same_run": True}
    assert "tiny (figures mean nothing)" in done.stdout


def test_gpu_script_refuses_cuda_without_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--device", "cuda", "--out",
                           str(tmp_path / "x.json")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.strip() == "error: --device cuda: torch sees no GPU"
    assert not (tmp_path / "x.json").exists()
