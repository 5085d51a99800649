"""Numeric check of an exported ONNX against the PyTorch fp32 reference, and fp16 overflow hunting.

Overflow localisation exposes every intermediate as a graph output. With the fp32 export it
finds the nodes whose values do not fit fp16 (|x| > 65504) and their consumers; with the fp16
export, the first node that turns finite inputs into NaN/Inf. Those are the nodes to keep in fp32.
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


def _with_all_outputs(model, tmp: Path, keep_types=(1, 10)):
    """Copy of ``model`` whose float intermediates are graph outputs; saved under ``tmp``."""
    import onnx

    from .onnx_export import save_onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    vi = {v.name: v for v in m.graph.value_info}
    for node in m.graph.node:
        for name in node.output:
            v = vi.get(name)
            if v is not None and name not in have and v.type.tensor_type.elem_type in keep_types:
                m.graph.output.append(v)
                have.add(name)
    path = tmp / "probe.onnx"
    save_onnx(m, path)
    return path


def _intermediates(model, inputs: tuple) -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory(prefix="ldprune-probe-") as d:
        path = _with_all_outputs(model, Path(d))
        sess = ort_session(path)
        names = [o.name for o in sess.get_outputs()]
        return dict(zip(names, sess.run(names, feeds_for(sess, inputs))))


def _describe(node) -> dict[str, str]:
    meta = {p.key: p.value for p in node.metadata_props}
    return {"node": node.name, "op_type": node.op_type, "operator": meta.get("ldprune.operator", "")}


def localize_overflow(fp16_model, fp32_model, inputs: tuple) -> dict[str, Any]:
    """First fp16 node producing NaN/Inf from finite inputs, and the fp32 nodes out of fp16 range."""
    report: dict[str, Any] = {"first_nonfinite": None, "out_of_range": [], "suggest_keep_fp32": []}
    vals = _intermediates(fp16_model, inputs)
    for node in fp16_model.graph.node:
        ins = [vals[i] for i in node.input if i in vals]
        outs = [vals[o] for o in node.output if o in vals]
        if outs and any(not np.isfinite(o).all() for o in outs) and all(np.isfinite(i).all() for i in ins):
            report["first_nonfinite"] = _describe(node)
            break
    if fp32_model is not None:
        vals32 = _intermediates(fp32_model, inputs)
        big = set()
        for node in fp32_model.graph.node:
            for o in node.output:
                v = vals32.get(o)
                if v is not None and v.size and np.abs(v[np.isfinite(v)]).max(initial=0) > FP16_MAX:
                    big.add(o)
                    report["out_of_range"].append({**_describe(node),
                                                   "abs_max": float(np.abs(v).max())})
        # a value that does not fit fp16 must be produced *and* consumed in fp32
        keep = [n.name for n in fp32_model.graph.node if big & set(n.output) or big & set(n.input)]
        report["suggest_keep_fp32"] = keep
    if not report["suggest_keep_fp32"] and report["first_nonfinite"]:
        report["suggest_keep_fp32"] = [report["first_nonfinite"]["node"]]
    return report


def overflow_error(check: dict[str, Any], loc: dict[str, Any]) -> LdpruneError:
    first = loc.get("first_nonfinite") or {}
    where = (f"first NaN/Inf at node {first['node']} ({first['op_type']}"
             + (f", operator {first['operator']})" if first.get("operator") else ")")) if first else "source not found"
    keep = loc.get("suggest_keep_fp32") or []
    shown = ",".join(keep[:8]) + (f",... ({len(keep)} nodes)" if len(keep) > 8 else "")
    return LdpruneError(
        f"fp16 export overflows: {check['nonfinite']} of {check['numel']} outputs are NaN/Inf "
        f"(the 'black image' bug); {where}; {len(loc.get('out_of_range', []))} fp32 value(s) exceed 65504",
        f"re-export with --keep-fp32 {shown or 'NODE'} (or --keep-fp32 auto), or use --precision fp32")
