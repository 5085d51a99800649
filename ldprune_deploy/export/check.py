"""Numeric check of an exported ONNX against the PyTorch fp32 reference, and fp16 overflow hunting.

Overflow hunting exposes intermediates as graph outputs (in chunks, so memory stays bounded).
On the fp32 graph it finds the values that do not fit fp16 (|x| > 65504): their producers and
consumers are the nodes to keep in fp32. On the fp16 graph it names the first node that turns
finite inputs into NaN/Inf.
"""

from __future__ import annotations

import logging
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


def ort_session(path: Path, providers: list[str] | None = None, **opts):
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
    sess = ort_session(path, [provider])
    out = sess.run(["out_sample"], feeds_for(sess, inputs))[0]
    tol = {**TOLERANCE[precision], **(tolerance or {})}
    metrics = compare(reference, out)
    fails = verdict(metrics, tol)
    return {**metrics, "tolerance": tol, "provider": provider, "passed": not fails, "failures": fails,
            "shapes": {i.name: list(x.shape) for i, x in zip(sess.get_inputs(), inputs)},
            "seconds": round(time.perf_counter() - t0, 2)}


def _with_outputs(model, names: list[str], tmp: Path) -> Path:
    """Copy of ``model`` with ``names`` added as graph outputs; saved under ``tmp``."""
    import onnx

    from .onnx_export import save_onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    vi = {v.name: v for v in [*m.graph.value_info, *m.graph.output]}
    vi = {k: onnx.ValueInfoProto.FromString(v.SerializeToString()) for k, v in vi.items()}
    del m.graph.output[:]
    for name in names:
        m.graph.output.append(vi[name])
    path = tmp / "probe.onnx"
    save_onnx(m, path)
    return path


def _float_outputs(model, skip_ops=("Constant", "ConstantOfShape")) -> list[str]:
    vi = {v.name: v.type.tensor_type.elem_type for v in model.graph.value_info}
    vi.update({v.name: v.type.tensor_type.elem_type for v in model.graph.output})
    return [o for n in model.graph.node if n.op_type not in skip_ops for o in n.output if vi.get(o) in (1, 10)]


def _intermediates(model, inputs: tuple, names: list[str] | None = None, chunk: int = 400):
    """Yield (name, value) of float intermediates, ``chunk`` outputs per ORT run (bounded memory)."""
    names = names if names is not None else _float_outputs(model)
    with tempfile.TemporaryDirectory(prefix="ldprune-probe-") as d:
        for i in range(0, len(names), chunk):
            part = names[i:i + chunk]
            sess = ort_session(_with_outputs(model, part, Path(d)))
            vals = sess.run(part, feeds_for(sess, inputs))
            yield from zip(part, vals)
            del sess, vals


def _describe(node) -> dict[str, str]:
    meta = {p.key: p.value for p in node.metadata_props}
    return {"node": node.name, "op_type": node.op_type, "operator": meta.get("ldprune.operator", "")}


def scan_range(fp32_model, inputs: tuple, chunk: int = 400) -> list[dict[str, Any]]:
    """fp32 intermediates whose magnitude does not fit fp16 (they become Inf in an fp16 graph).

    This does not depend on the provider: ORT's CPU provider silently runs fp16 nodes it has no
    fp16 kernel for in fp32, which hides overflows that the CUDA provider would produce.
    """
    producer = {o: n for n in fp32_model.graph.node for o in n.output}
    out = []
    for name, v in _intermediates(fp32_model, inputs, chunk=chunk):
        finite = v[np.isfinite(v)]
        peak = float(np.abs(finite).max(initial=0))
        if peak > FP16_MAX:
            out.append({**_describe(producer[name]), "output": name, "abs_max": peak})
    return out


def keep_for(fp32_model, out_of_range: list[dict[str, Any]]) -> list[str]:
    """A value that does not fit fp16 must be produced *and* consumed in fp32."""
    big = {e["output"] for e in out_of_range}
    return [n.name for n in fp32_model.graph.node if big & set(n.output) or big & set(n.input)]


def first_nonfinite(fp16_model, inputs: tuple) -> dict[str, str] | None:
    """First node (graph order is topological) turning finite inputs into NaN/Inf."""
    names = _float_outputs(fp16_model)
    bad: set[str] = set()
    for name, v in _intermediates(fp16_model, inputs, names):
        if not np.isfinite(v).all():
            bad.add(name)
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
