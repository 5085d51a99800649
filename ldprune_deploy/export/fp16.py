"""fp32 ONNX -> fp16 ONNX, with chosen nodes kept in fp32 behind Cast nodes.

We convert the fp32 export instead of exporting a half-precision torch model because the
node block list needs the fp32 graph: a node kept in fp32 gets Casts on its edges, and its
weights stay fp32. The converter is ONNX Runtime's copy of onnxconverter-common's
``float16`` module (``onnxruntime.transformers.float16``), so there is no extra dependency.
"""

from __future__ import annotations

import logging

from ..errors import LdpruneError

log = logging.getLogger("ldprune")

FP16_MAX = 65504.0


def _converter():
    try:
        from onnxruntime.transformers import float16
    except ImportError:
        raise LdpruneError("fp16 export needs onnxruntime (its float16 converter)",
                           "pip install 'ldprune-deploy[onnx]' (or onnxruntime-gpu on a GPU machine)") from None
    return float16


def resolve_keep(model, keep: list[str]) -> tuple[list[str], list[str]]:
    """Split ``keep`` into (node names, op types). Entries may be a node name, an op type, or a
    name prefix such as ``/up_blocks.2/attentions.1`` or a catalogue id ``up_blocks.2.attentions.1``."""
    names = [n.name for n in model.graph.node]
    types = {n.op_type for n in model.graph.node}
    nodes: list[str] = []
    ops: list[str] = []
    for entry in keep:
        entry = entry.strip()
        if not entry:
            continue
        if entry in types:
            ops.append(entry)
            continue
        if entry in names:
            nodes.append(entry)
            continue
        prefix = entry if entry.startswith("/") else None
        if prefix is None:   # catalogue id -> node-name prefix
            from .onnx_export import _segments

            prefix = "/" + "/".join(_segments(entry))
        matched = [n for n in names if n.startswith(prefix + "/")]
        if not matched:
            raise LdpruneError(f"--keep-fp32 '{entry}' matches no node name, op type or module in the graph",
                               "use a node name from the numeric-check report, an op type such as Softmax, "
                               "or an operator id from `ldprune catalogue`")
        nodes += matched
    return sorted(set(nodes)), sorted(set(ops))


def convert_fp16(model, keep: list[str] | None = None):
    """Return (fp16 model, node names kept in fp32). IO tensors become fp16 as well."""
    float16 = _converter()
    nodes, ops = resolve_keep(model, keep or [])
    kept = sorted({n.name for n in model.graph.node if n.name in set(nodes) or n.op_type in set(ops)})
    # shapes were inferred on the file already (the in-memory pass fails over 2 GB)
    out = float16.convert_float_to_float16(
        model, keep_io_types=False, disable_shape_infer=True,
        op_block_list=list(float16.DEFAULT_OP_BLOCK_LIST) + ops, node_block_list=nodes or None)
    if kept:
        log.info("fp16 export: %d node(s) kept in fp32", len(kept))
    return out, kept
