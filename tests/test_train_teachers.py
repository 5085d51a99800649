"""benchmarks/train_teachers.py on the CPU: the --cuda-graph flag's refusal without CUDA, the
evaluation schedule, and the graphed-call set-up (capture check, eager fallback) with
make_graphed_callables replaced by a CPU stand-in that has its observable semantics. The
script's end-to-end --smoke run is tests/test_data_proxy.py::test_train_teachers_smoke."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import train_teachers as tt  # noqa: E402

from ldprune_deploy.quality.teachers import TEACHERS, build_teacher  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")   # batch-2 UNet passes: a second thread only contends


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_graph_on_without_cuda_exits_with_the_fix(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        tt.main(["--smoke", "--cuda-graph", "on", "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--cuda-graph on needs a CUDA device" in err and "--cuda-graph auto" in err
    assert not (tmp_path / "out").exists()   # refused before any data was loaded or written


def _run(sched: tt.EvalSchedule, it_per_s: float) -> list[tuple[int, float]]:
    """(step, seconds) of each evaluation of a run at a constant rate, as train_one drives it."""
    evals, step, t = [], 0, 0.0
    while step < sched.steps and t < sched.max_seconds:
        step += 1
        t += 1 / it_per_s
        assert sched.due(step, t) == sched.due(step, t)   # due() has no side effects
        if sched.due(step, t):
            sched.mark(step, t)
            evals.append((step, t))
    return evals


def test_eval_points_follow_time_when_time_binds():
    # 1/8 s a step is exact in binary: the points land on steps, not a float hair either side
    evals = _run(tt.EvalSchedule(steps=100_000, max_seconds=150.0, every=0, points=6), it_per_s=8.0)
    assert [t for _, t in evals] == [25.0, 50.0, 75.0, 100.0, 125.0, 150.0]
    # a rate whose sums are inexact (0.1 s): still 6 evaluations, the last at the end
    evals = _run(tt.EvalSchedule(steps=100_000, max_seconds=150.0, every=0, points=6), it_per_s=10.0)
    assert [s for s, _ in evals][:5] == [250, 500, 750, 1000, 1250] and len(evals) == 6
    assert evals[-1][1] >= 150.0 and evals[-1][0] in (1500, 1501)


def test_eval_points_follow_steps_when_steps_bind():
    evals = _run(tt.EvalSchedule(steps=600, max_seconds=150.0, every=0, points=6), it_per_s=100.0)
    assert [s for s, _ in evals] == [100, 200, 300, 400, 500, 600]


def test_eval_every_n_steps_and_at_the_end():
    assert [s for s, _ in _run(tt.EvalSchedule(steps=10, max_seconds=1e9, every=4), it_per_s=1.0)] == [4, 8, 10]
    # time cap ends the run between multiples of every: the end is still evaluated
    assert [s for s, _ in _run(tt.EvalSchedule(steps=100, max_seconds=5.0, every=4), it_per_s=1.0)] == [4, 5]


def test_eval_point_skipped_over_is_not_made_up():
    sched = tt.EvalSchedule(steps=1000, max_seconds=60.0, points=6)
    assert not sched.due(1, 9.9)
    assert sched.due(2, 30.5)            # jumped past 10 s and 20 s and 30 s: one evaluation
    sched.mark(2, 30.5)
    assert not sched.due(3, 39.0) and sched.due(4, 40.0)


def _fake_make_graphed_callables(copy_inputs: bool = True, accumulate: bool = False):
    """A CPU stand-in for torch.cuda.make_graphed_callables with what the training loop can
    observe of it: inputs copied into static buffers kept from the sample args, the module's
    forward replaced, and a backward that writes the parameter grads into persistent buffers and
    returns them detached (AccumulateGrad then adopts them as .grad, as it does on the GPU).
    ``copy_inputs=False`` is a broken capture that keeps replaying the sample batch;
    ``accumulate=True`` one whose grad buffers add up across replays (right once, then double)."""

    def make(module, sample_args, num_warmup_iters=3, allow_unused_input=False, pool=None):
        assert isinstance(module, torch.nn.Module) and module.training
        assert not (module._forward_hooks or module._forward_pre_hooks or module._backward_hooks)
        assert all(torch.is_tensor(x) and not x.requires_grad for x in sample_args)
        params = tuple(module.parameters())
        static_in = [x.clone() for x in sample_args]
        static_grads = [torch.zeros_like(p) for p in params]
        orig_forward, state = module.forward, {}

        class Graphed(torch.autograd.Function):
            @staticmethod
            def forward(ctx, *inputs):
                if copy_inputs:
                    for s, x in zip(static_in, inputs[:len(static_in)]):
                        s.copy_(x)
                with torch.enable_grad():
                    state["out"] = orig_forward(*static_in)
                return state["out"].detach()

            @staticmethod
            @torch.autograd.function.once_differentiable
            def backward(ctx, grad):
                grads = torch.autograd.grad(state["out"], params, grad, allow_unused=allow_unused_input)
                for s, g in zip(static_grads, grads):
                    s.add_(g) if accumulate else s.copy_(g)
                return (None,) * len(static_in) + tuple(s.detach() for s in static_grads)

        module.forward = lambda *args: Graphed.apply(*args, *params)
        return module

    return make


def _batches(cfg, n=2):
    torch.manual_seed(0)
    s, ch = cfg.latent_size, cfg.config["in_channels"]
    out = []
    for _ in range(2):
        args = (torch.randn(n, ch, s, s), torch.randint(0, 1000, (n,)))
        if cfg.conditional:
            args += (torch.randn(n, cfg.text_len, cfg.config["cross_attention_dim"]),)
        out.append((args, torch.randn(n, ch, s, s)))
    return out


@pytest.fixture(scope="module")
def t2i():
    torch.manual_seed(0)
    cfg = TEACHERS["emoji-t2i"]
    return cfg, build_teacher(cfg).train()


@pytest.fixture(scope="module")
def uig():
    torch.manual_seed(0)
    cfg = TEACHERS["emoji-uig"]
    return cfg, build_teacher(cfg).train()


def test_graphed_call_is_checked_and_used(t2i, monkeypatch):
    cfg, unet = t2i
    monkeypatch.setattr(torch.cuda, "make_graphed_callables", _fake_make_graphed_callables())
    (sample, _), (args, target) = _batches(cfg)
    call, info = tt.setup_eps_call(unet, "cpu", "on", sample, args, target)
    assert info["cuda_graph"] is True and info["cuda_graph_fallback"] is None
    assert info["cuda_graph_capture_seconds"] >= 0
    assert all(p.grad is None for p in unet.parameters())   # the check leaves no grads behind
    # a training-loop step through the graphed call (after the check's two) gives the eager grads
    eager = tt.EpsCall(unet)
    params = list(unet.parameters())
    F.mse_loss(eager(*args).float(), target).backward()
    ref = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    with info["autocast"]():
        F.mse_loss(call(*args).float(), target).backward()
    for p, r in zip(params, ref):
        torch.testing.assert_close(p.grad, r)


def test_graph_check_passes_with_dropout_and_keeps_the_random_stream(monkeypatch):
    # a UNet with dropout draws its masks from the seeded stream in the eager and the graphed call
    # alike, so a sound capture passes; the check's seeding does not touch the training stream
    torch.manual_seed(0)
    cfg = TEACHERS["emoji-uig"]
    unet = build_teacher(cfg, dropout=0.3).train()
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.3 for m in unet.modules())
    monkeypatch.setattr(torch.cuda, "make_graphed_callables", _fake_make_graphed_callables())
    (sample, _), (args, target) = _batches(cfg)
    state = torch.get_rng_state()
    call, info = tt.setup_eps_call(unet, "cpu", "on", sample, args, target)
    assert info["cuda_graph"] is True and info["cuda_graph_fallback"] is None
    assert torch.equal(torch.get_rng_state(), state)
    # and unseeded calls differ (the masks are live in train mode), so the seeding is what passes it
    with torch.no_grad():
        assert not torch.equal(call(*args), call(*args))


@pytest.mark.filterwarnings("ignore:CUDA is not available")  # device "cuda" only selects auto
@pytest.mark.parametrize("broken", [dict(copy_inputs=False), dict(accumulate=True)], ids=["stale-inputs", "accumulating-grads"])
def test_broken_graph_falls_back(uig, monkeypatch, capsys, broken):
    cfg, unet = uig
    monkeypatch.setattr(torch.cuda, "make_graphed_callables", _fake_make_graphed_callables(**broken))
    (sample, _), (args, target) = _batches(cfg)
    # auto on a CUDA run: fall back with the reason printed and recorded
    call, info = tt.setup_eps_call(unet, "cuda", "auto", sample, args, target)
    assert info["cuda_graph"] is False and "differs from eager" in info["cuda_graph_fallback"]
    assert "CUDA graph not used, training eagerly" in capsys.readouterr().out
    assert isinstance(call, tt.EpsCall) and call.unet is unet
    assert all(p.grad is None for p in unet.parameters())


@pytest.mark.filterwarnings("ignore:CUDA is not available")  # device "cuda" only selects auto
def test_capture_error_falls_back_under_auto(uig, monkeypatch):
    cfg, unet = uig

    def boom(*a, **k):
        raise RuntimeError("operation not permitted when stream is capturing\nsecond line")
    monkeypatch.setattr(torch.cuda, "make_graphed_callables", boom)
    (sample, _), (args, target) = _batches(cfg)
    call, info = tt.setup_eps_call(unet, "cuda", "auto", sample, args, target)
    assert info["cuda_graph"] is False
    assert info["cuda_graph_fallback"] == "RuntimeError: operation not permitted when stream is capturing"
    assert isinstance(call, tt.EpsCall)
    # on: stop instead, naming the fallback
    with pytest.raises(SystemExit, match="--cuda-graph auto"):
        tt.setup_eps_call(unet, "cuda", "on", sample, args, target)
    # off and auto-on-CPU never try
    for device, mode in (("cuda", "off"), ("cpu", "auto")):
        call, info = tt.setup_eps_call(unet, device, mode, sample, args, target)
        assert isinstance(call, tt.EpsCall) and info["cuda_graph"] is False and info["cuda_graph_fallback"] is None
