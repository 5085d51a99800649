"""fp32 ONNX -> fp16 ONNX, with chosen nodes kept in fp32 behind Cast nodes.

We convert the fp32 export instead of exporting a half-precision torch model because the
node block list needs the fp32 graph: a node kept in fp32 gets Casts on its edges, and its
weights stay fp32. The converter is ONNX Runtime's copy of onnxconverter-common's
``float16`` module (``onnxruntime.transformers.float16``), so there is no extra dependency.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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


def np_to_float16(a, min_positive_val: float = 5.96e-08, max_finite_val: float = FP16_MAX):
    """Same result as the converter's ``convert_np_to_float16`` (magnitudes in (0, min) become
    +-min, finite ones above max become +-max; NaN, 0 and inf unchanged), computed as one cast
    plus a fix-up of the few elements that underflowed to 0 or overflowed to inf, instead of its
    eight full ``np.where`` passes: the largest part of SD1.5's fp16 conversion."""
    import numpy as np

    a = np.asarray(a)
    with np.errstate(over="ignore"):
        h = a.astype(np.float16)
    # a cast rounds |x| < min up to min or down to 0 (never elsewhere), and finite |x| > max to
    # max or to inf, so only the zeros and infs of the cast can differ from the clamped version
    flat_a, flat_h = a.reshape(-1), h.reshape(-1)
    under = np.flatnonzero(flat_h == 0)
    under = under[flat_a[under] != 0]
    flat_h[under] = np.copysign(np.float16(min_positive_val), flat_a[under]).astype(np.float16)
    over = np.flatnonzero(np.isinf(flat_h))
    over = over[np.isfinite(flat_a[over])]
    flat_h[over] = np.copysign(np.float16(max_finite_val), flat_a[over]).astype(np.float16)
    return h


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


def convert_fp16(model, keep: list[str] | None = None, inplace: bool = False):
    """Return (fp16 model, node names kept in fp32). IO tensors become fp16 as well."""
    import onnx

    # the converter edits its argument in place; the fp32 graph is still needed (range scan)
    work = model
    if not inplace:
        work = onnx.ModelProto()
        work.CopyFrom(model)
    return _convert(work, keep or [], None)


def convert_fp16_file(path, keep: list[str] | None = None):
    """``convert_fp16(onnx.load(path), keep, inplace=True)``, same proto, without loading the fp32
    weights first: each one is read from the external data file when the converter reaches it
    and goes straight to fp16, so 3.4 GB of fp32 bytes are not copied into protobuf and out again."""
    import onnx
    from onnx.external_data_helper import load_external_data_for_model

    base = str(Path(path).parent)
    out, kept = _convert(onnx.load(str(path), load_external_data=False), keep or [], base)
    # what the converter left in fp32 (weights of kept nodes) and the non-float tensors
    load_external_data_for_model(out, base)
    return out, kept


def _convert(work, keep: list[str], base_dir: str | None):
    float16 = _converter()
    nodes, ops = resolve_keep(work, keep)
    kept = sorted({n.name for n in work.graph.node if n.name in set(nodes) or n.op_type in set(ops)})
    # shapes were inferred on the file already (the in-memory pass fails over 2 GB); the
    # converter looks its helpers up as module globals, so the faster equivalents are swapped
    # in for the call only
    slow = float16.convert_np_to_float16, float16.convert_tensor_float_to_float16
    pool = ThreadPoolExecutor(_workers()) if base_dir is not None else None
    float16.convert_np_to_float16 = np_to_float16
    if pool is not None:
        float16.convert_tensor_float_to_float16 = _external_to_float16(work, base_dir, pool, slow[1])
    try:
        out = float16.convert_float_to_float16(
            work, keep_io_types=False, disable_shape_infer=True,
            op_block_list=list(float16.DEFAULT_OP_BLOCK_LIST) + ops, node_block_list=nodes or None)
    finally:
        float16.convert_np_to_float16, float16.convert_tensor_float_to_float16 = slow
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    _join_fp32_islands(out)
    if kept:
        log.info("fp16 export: %d node(s) kept in fp32", len(kept))
    return out, kept


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def _external_to_float16(model, base_dir: str, pool, convert_loaded):
    """The converter's ``convert_tensor_float_to_float16`` for tensors still on disk: leaves the
    tensor as loading then converting would (fp16 raw_data, data_location DEFAULT, no
    external_data entries)."""
    from onnx import TensorProto
    from onnx.external_data_helper import uses_external_data

    # the converter takes the initializers one by one in graph order; reading and casting them
    # ahead on other cores (numpy and file reads release the GIL) overlaps that work
    ahead = {_where(t): pool.submit(_fp16_from_file, base_dir, _where(t), t.name)
             for t in model.graph.initializer if t.data_type == TensorProto.FLOAT and uses_external_data(t)}

    def convert(tensor, min_positive_val=5.96e-08, max_finite_val=FP16_MAX):
        if tensor.data_type != TensorProto.FLOAT or not uses_external_data(tensor):
            return convert_loaded(tensor, min_positive_val, max_finite_val)
        where = _where(tensor)
        fut = ahead.pop(where, None)
        if fut is not None and (min_positive_val, max_finite_val) == (5.96e-08, FP16_MAX):
            half = fut.result()
        else:
            half = np_to_float16(_read_float32(base_dir, where, tensor.name), min_positive_val, max_finite_val)
        tensor.data_type = TensorProto.FLOAT16
        tensor.raw_data = half.tobytes()
        tensor.data_location = TensorProto.DEFAULT
        del tensor.external_data[:]
        return tensor

    return convert


def _where(tensor) -> tuple[str, int, int | None]:
    from onnx.external_data_helper import ExternalDataInfo

    info = ExternalDataInfo(tensor)
    return info.location, info.offset or 0, info.length


def _fp16_from_file(base_dir: str, where, name: str):
    return np_to_float16(_read_float32(base_dir, where, name))


def _read_float32(base_dir: str, where, name: str):
    import numpy as np

    location, offset, length = where
    with open(Path(base_dir) / location, "rb") as f:
        size = f.seek(0, 2) - offset
        length = size if length is None else length
        if not 0 <= length <= size or length % 4:
            raise LdpruneError(f"external data of {name} ({location}, offset {offset}, length {length}) "
                               "does not fit the file", "re-export the fp32 model")
        f.seek(offset)
        data = np.empty(length // 4, np.float32)
        if f.readinto(memoryview(data).cast("B")) != length:
            raise LdpruneError(f"short read of {name}'s external data ({location})", "re-export the fp32 model")
    return data


def _join_fp32_islands(model) -> None:
    """Let adjacent fp32 nodes talk in fp32 and restore topological order.

    The converter wraps every kept node in its own Casts, so an fp32 MatMul feeding an fp32
    Softmax still passes its (overflowing) output through fp16. We drop such Cast-down /
    Cast-up pairs, then sort the graph (the converter appends its Casts at the end).
    """
    nodes = list(model.graph.node)
    down = {n.output[0]: n for n in nodes if n.op_type == "Cast" and n.name.endswith("_cast_to_fp16_node")}
    ups = [n for n in nodes if n.op_type == "Cast" and n.name.endswith("_cast_to_fp32_node") and n.input[0] in down]
    rename = {u.output[0]: down[u.input[0]].input[0] for u in ups}
    dropped = {id(u) for u in ups}
    for n in nodes:
        for i, name in enumerate(n.input):
            if name in rename:
                n.input[i] = rename[name]
    used = {o.name for o in model.graph.output}
    used.update(i for n in nodes if id(n) not in dropped for i in n.input)
    dropped.update(id(d) for y, d in down.items() if y not in used)
    _set_sorted(model, [n for n in nodes if id(n) not in dropped])


def _set_sorted(model, nodes) -> None:
    have = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer} | {""}
    pending, ordered = list(nodes), []
    while pending:
        rest = []
        for n in pending:
            if all(i in have for i in n.input):
                ordered.append(n)
                have.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise LdpruneError("fp16 conversion produced a graph with a cycle or a missing input "
                               f"(e.g. node {rest[0].name})", "report this; use --precision fp32 meanwhile")
        pending = rest
    copies = [type(n)() for n in ordered]
    for c, n in zip(copies, ordered):
        c.CopyFrom(n)
    del model.graph.node[:]
    model.graph.node.extend(copies)
