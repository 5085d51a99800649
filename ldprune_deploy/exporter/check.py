"""Numeric check of an exported ONNX against the PyTorch fp32 reference, and fp16 overflow hunting.

Overflow hunting reduces every intermediate to a scalar inside the graph (one run, normal memory).
On the fp32 graph it finds the values that do not fit fp16 (|x| > 65504): their producers and
consumers are the nodes to keep in fp32. On the fp16 graph it names the first node that turns
finite inputs into NaN/Inf.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LdpruneError
from .fp16 import FP16_MAX

log = logging.getLogger("ldprune")

TOLERANCE = {
    "fp32": {"rel_l2": 1e-3, "cosine_min": 0.99999},
    # random-weight SD1.5 in fp16 measures rel_l2 ~ 1e-3; 2e-2 leaves room for trained weights
    "fp16": {"rel_l2": 2e-2, "cosine_min": 0.999},
}


# the check compares against an fp32 reference: no TF32 (ORT's CUDA provider enables it by default)
# and no exhaustive cuDNN search (one run per session)
CUDA_CHECK_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC", "use_tf32": "0"}


def check_providers(provider: str) -> list[Any]:
    """Session providers for a check on ``provider`` (a provider name)."""
    if provider == "CUDAExecutionProvider":
        return [(provider, dict(CUDA_CHECK_OPTIONS)), "CPUExecutionProvider"]
    return [provider]


def ort_session(path: Path, providers: list[Any] | None = None, **opts):
    try:
        import onnxruntime as ort
    except ImportError:
        raise LdpruneError("the numeric check needs onnxruntime", "pip install 'ldprune-deploy[onnx]'") from None
    so = ort.SessionOptions()
    so.log_severity_level = 3
    for k, v in opts.items():
        setattr(so, k, v)
    return ort.InferenceSession(str(path), so, providers=providers or ["CPUExecutionProvider"])


def feeds_for(session, inputs: tuple) -> dict[str, np.ndarray]:
    """Cast torch inputs to the dtypes the session declares."""
    dt = {"tensor(float16)": np.float16, "tensor(float)": np.float32, "tensor(int64)": np.int64,
          "tensor(double)": np.float64, "tensor(int32)": np.int32}
    return {i.name: x.detach().cpu().numpy().astype(dt[i.type]) for i, x in zip(session.get_inputs(), inputs)}


def compare(ref: np.ndarray, out: np.ndarray) -> dict[str, Any]:
    ref = ref.astype(np.float64).ravel()
    out = out.astype(np.float64).ravel()
    finite = np.isfinite(out)
    res: dict[str, Any] = {"nonfinite": int((~finite).sum()), "numel": int(out.size),
                           "ref_abs_max": float(np.abs(ref).max())}
    if res["nonfinite"]:
        res.update(max_abs=None, rel_l2=None, cosine=None)
        return res
    diff = out - ref
    res["max_abs"] = float(np.abs(diff).max())
    res["mean_abs"] = float(np.abs(diff).mean())
    res["rel_l2"] = float(np.linalg.norm(diff) / max(np.linalg.norm(ref), 1e-30))
    res["cosine"] = float(ref @ out / max(np.linalg.norm(ref) * np.linalg.norm(out), 1e-30))
    return res


def verdict(metrics: dict[str, Any], tol: dict[str, float]) -> list[str]:
    """Reasons the check fails ([] = passed)."""
    if metrics["nonfinite"]:
        return [f"{metrics['nonfinite']} of {metrics['numel']} output values are NaN/Inf"]
    why = []
    if metrics["rel_l2"] > tol["rel_l2"]:
        why.append(f"relative L2 error {metrics['rel_l2']:.3g} > {tol['rel_l2']:.3g}")
    if metrics["cosine"] < tol["cosine_min"]:
        why.append(f"cosine {metrics['cosine']:.6f} < {tol['cosine_min']}")
    return why


def run_check(path: Path, reference: np.ndarray, inputs: tuple, precision: str,
              tolerance: dict[str, float] | None = None, provider: str = "CPUExecutionProvider") -> dict[str, Any]:
    t0 = time.perf_counter()
    sess = ort_session(path, check_providers(provider))
    out = sess.run(["out_sample"], feeds_for(sess, inputs))[0]
    tol = {**TOLERANCE[precision], **(tolerance or {})}
    metrics = compare(reference, out)
    fails = verdict(metrics, tol)
    return {**metrics, "tolerance": tol, "provider": provider, "passed": not fails, "failures": fails,
            "shapes": {i.name: list(x.shape) for i, x in zip(sess.get_inputs(), inputs)},
            "seconds": round(time.perf_counter() - t0, 2)}


def _probe(model, names: list[str], reduce: str) -> Any:
    """Copy of ``model`` whose outputs are one scalar per intermediate in ``names``.

    ``absmax``: max |x|; ``nonfinite`` adds an any-NaN flag (an Inf shows in max |x|).
    Reducing inside the graph keeps memory at that of a normal forward pass (SD1.5's attention
    scores alone are 512 MB per layer at 512x512), and it takes one run.
    """
    import onnx
    from onnx import helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    vi = {v.name: v.type.tensor_type.elem_type for v in [*m.graph.value_info, *m.graph.output]}
    del m.graph.output[:]
    for i, name in enumerate(names):
        t = vi[name]
        # Abs and IsNaN have fp16 CPU kernels; arithmetic such as x - x would be run in fp32 by
        # ORT's CPU provider after it drops the Cast round trip, hiding the Inf we look for
        m.graph.node.extend([
            helper.make_node("Abs", [name], [f"__probe{i}_a"], name=f"__probe{i}_abs"),
            helper.make_node("ReduceMax", [f"__probe{i}_a"], [f"__probe{i}"], name=f"__probe{i}_red", keepdims=0)])
        m.graph.output.append(helper.make_tensor_value_info(f"__probe{i}", t, []))
        if reduce == "nonfinite":
            m.graph.node.extend([
                helper.make_node("IsNaN", [name], [f"__probe{i}_n"], name=f"__probe{i}_isnan"),
                helper.make_node("Cast", [f"__probe{i}_n"], [f"__probe{i}_c"], name=f"__probe{i}_cast", to=1),
                helper.make_node("ReduceMax", [f"__probe{i}_c"], [f"__probe{i}_nan"], name=f"__probe{i}_rednan",
                                 keepdims=0)])
            m.graph.output.append(helper.make_tensor_value_info(f"__probe{i}_nan", 1, []))
    return m


def _float_outputs(model, skip_ops=("Constant", "ConstantOfShape")) -> list[str]:
    vi = {v.name: v.type.tensor_type.elem_type for v in model.graph.value_info}
    vi.update({v.name: v.type.tensor_type.elem_type for v in model.graph.output})
    return [o for n in model.graph.node if n.op_type not in skip_ops for o in n.output if vi.get(o) in (1, 10)]


def _reduced(model, inputs: tuple, reduce: str, base_dir: Path | None = None,
             provider: str = "CPUExecutionProvider") -> dict[str, float]:
    """{intermediate name: scalar} for every float intermediate, in one ORT run.

    ``base_dir`` is where the model's external data lives: the probe is written there so a
    model loaded with ``load_external_data=False`` keeps its weights on disk (SD1.5 fp32: 3.4 GB).
    """
    from .onnx_export import save_onnx

    names = _float_outputs(model)
    with tempfile.TemporaryDirectory(prefix="ldprune-probe-") as d:
        fd, tmp = tempfile.mkstemp(prefix=".probe-", suffix=".onnx", dir=base_dir or d)
        os.close(fd)
        path = Path(tmp)
        try:
            save_onnx(_probe(model, names, reduce), path)
            sess = ort_session(path, check_providers(provider))
            outs = [o.name for o in sess.get_outputs()]
            vals = dict(zip(outs, sess.run(outs, feeds_for(sess, inputs))))
            del sess
        finally:
            path.unlink(missing_ok=True)
            Path(str(path) + ".data").unlink(missing_ok=True)
    res = {n: float(vals[f"__probe{i}"]) for i, n in enumerate(names)}
    if reduce == "nonfinite":   # 1.0 when NaN/Inf present, else 0.0
        res = {n: float(vals[f"__probe{i}_nan"] > 0 or not np.isfinite(res[n])) for i, n in enumerate(names)}
    return res


def _describe(node) -> dict[str, str]:
    meta = {p.key: p.value for p in node.metadata_props}
    return {"node": node.name, "op_type": node.op_type, "operator": meta.get("ldprune.operator", "")}


def scan_range(fp32_model, inputs: tuple, base_dir: Path | None = None,
               provider: str = "CPUExecutionProvider") -> list[dict[str, Any]]:
    """fp32 intermediates whose magnitude does not fit fp16 (they become Inf in an fp16 graph).

    This does not depend on the provider: ORT's CPU provider silently runs fp16 nodes it has no
    fp16 kernel for in fp32, which hides overflows that the CUDA provider would produce.
    """
    producer = {o: n for n in fp32_model.graph.node for o in n.output}
    return [{**_describe(producer[name]), "output": name, "abs_max": peak}
            for name, peak in _reduced(fp32_model, inputs, "absmax", base_dir, provider).items()
            if not peak <= FP16_MAX]


def keep_for(fp32_model, out_of_range: list[dict[str, Any]]) -> list[str]:
    """A value that does not fit fp16 must be produced *and* consumed in fp32."""
    big = {e["output"] for e in out_of_range}
    return [n.name for n in fp32_model.graph.node if big & set(n.output) or big & set(n.input)]


def first_nonfinite(fp16_model, inputs: tuple, base_dir: Path | None = None,
                    provider: str = "CPUExecutionProvider") -> dict[str, str] | None:
    """First node (graph order is topological) turning finite inputs into NaN/Inf."""
    bad = {name for name, v in _reduced(fp16_model, inputs, "nonfinite", base_dir, provider).items() if v != 0}
    producer = {o: n for n in fp16_model.graph.node for o in n.output}
    for node in fp16_model.graph.node:
        if bad & set(node.output) and not bad & set(node.input):
            if node.op_type == "Cast" and node.input[0] in producer:   # the fp32 node before a Cast down
                return {**_describe(producer[node.input[0]]), "via": node.name}
            return _describe(node)
    return None


def overflow_error(nonfinite: int, numel: int, first: dict | None, out_of_range: list, keep: list[str]) -> LdpruneError:
    where = (f"first NaN/Inf at node {first['node']} ({first['op_type']}"
             + (f", operator {first['operator']})" if first.get("operator") else ")")) if first else ""
    big = (f"{len(out_of_range)} intermediate(s) exceed fp16's 65504 in fp32, first {out_of_range[0]['node']} "
           f"(|x| = {out_of_range[0]['abs_max']:.3g})") if out_of_range else ""
    what = "; ".join(x for x in (f"{nonfinite} of {numel} outputs are NaN/Inf" if nonfinite else "", where, big) if x)
    shown = ",".join(keep[:8]) + (f",... ({len(keep)} nodes)" if len(keep) > 8 else "")
    return LdpruneError(f"fp16 export overflows (the 'black image' bug): {what}",
                        f"re-export with --keep-fp32 {shown or 'NODE'} (or --keep-fp32 auto), or --precision fp32")
