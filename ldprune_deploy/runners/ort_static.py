"""Static-shape copy of an ONNX export for ONNX Runtime CUDA graphs.

CUDA graph capture needs every compute node on the CUDA provider (no Memcpy nodes), but ORT's
CUDA provider puts the small shape computations that follow a Shape node (Gather/Concat/Cast/...
feeding Reshape/Expand shape inputs, and TorchScript's attention scale Shape->Cast->Sqrt->Div,
which then feeds a device Mul through a Memcpy) on the CPU provider. Our exports keep a symbolic
batch axis, so those subgraphs survive TorchScript's constant folding.
``static_graph`` writes, once per shape set, ``<onnx>.static-<shapes>.onnx`` beside the export:
the graph with its input shapes fixed and every shape-derived subgraph replaced by initializers
(values computed by one ORT run of the graph itself, so contrib ops of ``optimize`` exports work
too). Its ``.json`` sidecar records the source file's size and mtime, the shapes and what was folded.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..jsonio import atomic_path, write_json_atomic
from ..errors import LdpruneError

log = logging.getLogger("ldprune")

_NP = {"tensor(float16)": np.float16, "tensor(float)": np.float32, "tensor(int64)": np.int64,
       "tensor(int32)": np.int32, "tensor(double)": np.float64, "tensor(bool)": np.bool_}


def input_shapes(inputs, man: dict[str, Any], batch: int, res: int, text_len: int | None = None
                 ) -> dict[str, list[int]]:
    """Static shape of every graph input: ``inputs`` is ``[(name, dims)]`` (a session's inputs or
    the manifest's ``io``; dims are ints or symbolic names); axis 0 is the batch, ``sample``'s
    axes 2-3 the latent side, a ControlNet residual's the latent side at its block's level, any
    other free axis the text length."""
    from ..exporter.manifest import residual_levels

    lat = res // (man["ranges"]["resolution"][1] // man["ranges"]["latent"][1])
    text = text_len or man["ranges"].get("text_len") or 77
    inputs = list(inputs)
    levels = residual_levels(man.get("unet_config") or {}, [n for n, _ in inputs])
    out = {}
    for name, dims in inputs:
        shape = [batch if i == 0 else d for i, d in enumerate(dims)]
        if name == "sample":
            shape[2] = shape[3] = lat
        elif name in levels:   # ControlNet residual: the sample's side at its block's downsampling
            shape[2] = shape[3] = lat // 2 ** levels[name]
        out[name] = [d if isinstance(d, int) and d > 0 else text for d in shape]
    return out


FOLD_SCHEMA = "ldprune.static_fold/1"
_SHAPE_OF = {"Shape", "Size"}                 # value = a function of an input's (static) shape
_SHAPE_MAKERS = {"ConstantOfShape", "Range"}  # with static inputs: shape-sized helper tensors
_RANDOM = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}
_DATA_SHAPED = {"NonZero", "Unique", "Compress", "NonMaxSuppression", "If", "Loop", "Scan"}
# inputs that ORT's CUDA kernels read from host memory (shape-like operands)
CPU_INPUTS = {"Reshape": (1,), "Expand": (1,), "Tile": (1,), "Unsqueeze": (1,), "Squeeze": (1,),
              "Slice": (1, 2, 3, 4), "Resize": (1, 2, 3), "Upsample": (1,), "Pad": (1, 2, 3),
              "ConstantOfShape": (0,), "Range": (0, 1, 2), "Split": (1,), "TopK": (1,),
              "ReduceSum": (1,), "ReduceMean": (1,), "ReduceMax": (1,), "ReduceMin": (1,)}


def _shape_subgraph(graph) -> tuple[list, set[str]]:
    """(nodes to fold, their outputs): default-domain nodes whose value follows from the static
    input shapes alone (Shape/Size of anything, and nodes fed only by constants and such values)
    that depend on a Shape/Size/ConstantOfShape/Range or feed a host-memory operand (``CPU_INPUTS``,
    e.g. the fp16 converter's Cast of Resize scales). Other constant arithmetic on weights (fp16
    Casts, shared-weight Identities) is left as exported."""
    const = {t.name for t in graph.initializer} | {""}   # "" = an omitted optional input
    host = {n.input[i] for n in graph.node for i in CPU_INPUTS.get(n.op_type, ()) if i < len(n.input)}
    derived: set[str] = set()
    fold = []
    for n in graph.node:
        if n.domain not in ("", "ai.onnx") or n.op_type in _RANDOM:
            continue
        if n.op_type == "Constant":
            const.update(n.output)
            continue
        if n.op_type not in _SHAPE_OF:
            if not all(i in const for i in n.input):
                continue
            if (n.op_type not in _SHAPE_MAKERS and not any(i in derived for i in n.input)
                    and not any(o in host for o in n.output)):
                const.update(n.output)
                continue
        const.update(n.output)
        derived.update(n.output)
        fold.append(n)
    return fold, derived


def fold_shape_subgraphs(src: Path, dst: Path, shapes: dict[str, list[int]],
                         providers: list[Any] | None = None) -> dict[str, Any]:
    """Write ``dst``: ``src`` with static input shapes and its shape subgraphs folded.

    The folded values are computed by one ORT run of ``src`` itself (on ``providers``, with the
    values as extra outputs and zero inputs of ``shapes``): no separate shape inference, so contrib
    ops (``optimize`` exports) are handled by the provider that runs them. External weights stay in
    ``src``'s data file (``dst`` is written in the same folder and refers to it). Returns stats.
    """
    import onnx
    from onnx import numpy_helper

    import onnxruntime as ort

    t0 = time.perf_counter()
    m = onnx.load(str(src), load_external_data=False)
    g = m.graph
    for n in g.node:
        if n.op_type in _DATA_SHAPED or any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                                            for a in n.attribute):
            raise LdpruneError(f"{src.name} has a {n.op_type} node ({n.name}): its shapes depend on data, so "
                               "the graph cannot be made static for a CUDA graph",
                               "run without cuda_graph")
    inits = {t.name for t in g.initializer}
    params: dict[str, set[int]] = {}
    for vi in g.input:
        if vi.name in inits:
            continue
        want = shapes.get(vi.name)
        dims = vi.type.tensor_type.shape.dim
        if want is None or len(want) != len(dims):
            raise LdpruneError(f"{src.name} input {vi.name} has {len(dims)} axes; asked to fix it to {want}",
                               "re-export the model")
        for d, v in zip(dims, want):
            if d.HasField("dim_value") and d.dim_value not in (0, v):
                raise LdpruneError(f"{src.name} input {vi.name} is static {[x.dim_value for x in dims]}, "
                                   f"the run asks for {want}", "run at the export's shapes or re-export")
            if d.dim_param:
                params.setdefault(d.dim_param, set()).add(v)
            d.dim_value = v
    named = {k: next(iter(v)) for k, v in params.items() if len(v) == 1}
    for vi in [*g.output, *g.value_info]:
        for d in vi.type.tensor_type.shape.dim:
            if d.dim_param in named:
                d.dim_value = named[d.dim_param]

    nodes_before = len(g.node)
    fold, derived = _shape_subgraph(g)
    folded = {id(n) for n in fold}
    frontier = sorted({i for n in g.node if id(n) not in folded for i in n.input if i in derived}
                      | {o.name for o in g.output if o.name in derived})
    values: list[Any] = []
    if frontier:
        n_out = len(g.output)
        for name in frontier:
            g.output.add().name = name
        probe = dst.with_name(f".{dst.stem}.probe-{os.getpid()}.onnx")
        try:
            onnx.save_model(m, str(probe))
            so = ort.SessionOptions()
            so.log_severity_level = 3
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            sess = ort.InferenceSession(str(probe), so, providers=providers or ["CPUExecutionProvider"])
            feeds = {i.name: np.zeros(shapes[i.name], _NP[i.type]) for i in sess.get_inputs()}
            values = sess.run(frontier, feeds)
            del sess
        finally:
            probe.unlink(missing_ok=True)
        del g.output[n_out:]

    # drop the folded nodes, then whatever only they used
    kept = [n for n in g.node if id(n) not in folded]
    used = {o.name for o in g.output} | set(frontier)
    live = []
    for n in reversed(kept):
        if any(o in used for o in n.output):
            live.append(n)
            used.update(n.input)
    live.reverse()
    g.ClearField("node")
    g.node.extend(live)
    for i in reversed(range(len(g.initializer))):
        if g.initializer[i].name not in used:
            del g.initializer[i]
    for i in reversed(range(len(g.input))):
        if g.input[i].name in inits and g.input[i].name not in used:
            del g.input[i]
    g.initializer.extend(numpy_helper.from_array(np.asarray(v), name) for name, v in zip(frontier, values))
    produced = {o for n in live for o in n.output}
    for i in reversed(range(len(g.value_info))):
        if g.value_info[i].name not in produced:
            del g.value_info[i]
    left = sorted({n.op_type for n in live} & (_SHAPE_OF | _SHAPE_MAKERS))
    if left:   # cannot happen for graphs without subgraphs; say so rather than fail at capture
        raise LdpruneError(f"{src.name}: {', '.join(left)} nodes are left after folding the shape subgraphs",
                           "run without cuda_graph and report this export")
    stats = {"folded_nodes": len(fold), "removed_nodes": nodes_before - len(live), "folded_values": len(frontier),
             "nodes_before": nodes_before, "nodes_after": len(live)}
    meta = m.metadata_props.add()
    meta.key, meta.value = "ldprune.static_fold", json.dumps({"shapes": shapes, **stats})
    with atomic_path(dst) as tmp:
        onnx.save_model(m, str(tmp))
    stats["fold_s"] = round(time.perf_counter() - t0, 2)
    log.info("static graph %s: %d shape nodes folded into %d constants, %d -> %d nodes (%.1f s)", dst.name,
             len(fold), len(frontier), nodes_before, len(live), stats["fold_s"])
    return stats


def static_graph(folder: Path, man: dict[str, Any], batch: int, res: int, text_len: int | None = None,
                 providers: list[Any] | None = None) -> tuple[Path, dict[str, Any]]:
    """Path of the export's graph with static shapes and folded shape subgraphs, and its sidecar
    (made once beside the export: ``<onnx stem>.static-<shape>_<shape>...onnx`` + ``.json``)."""
    folder = Path(folder)
    src = folder / man["onnx_file"]
    shapes = input_shapes([(i["name"], i["shape"]) for i in man["io"]["inputs"]], man, batch, res, text_len)
    dst = folder / f"{src.stem}.static-{'_'.join('x'.join(map(str, s)) for s in shapes.values())}.onnx"
    side = dst.with_suffix(".json")
    st = src.stat()
    ident = {"schema": FOLD_SCHEMA, "source": src.name, "source_size": st.st_size,
             "source_mtime_ns": st.st_mtime_ns, "shapes": shapes}
    if dst.is_file() and side.is_file():
        try:
            meta = json.loads(side.read_text())
        except ValueError:
            meta = {}
        if {k: meta.get(k) for k in ident} == ident:
            return dst, meta
    try:
        stats = fold_shape_subgraphs(src, dst, shapes, providers)
        meta = {**ident, "file": dst.name, **stats}
        write_json_atomic(side, meta)
    except OSError as e:
        raise LdpruneError(f"cannot write the static-shape graph beside {src} ({e})",
                           "use a writable export folder (copy it), or run without cuda_graph") from None
    return dst, meta
