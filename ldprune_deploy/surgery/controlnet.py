"""ControlNet after pruning: does a pruned UNet still take the residuals of a ControlNet built for the original?

A ``ControlNetModel`` made for a UNet config (``ControlNetModel.from_unet``) emits one residual
per down-block output of that UNet (``conv_in``, every resnet/attention layer, every
downsampler) plus one for the mid block. diffusers' ``UNet2DConditionModel.forward`` adds them
to the UNet's own down-block outputs with ``zip`` (a count mismatch is *silently truncated*) and
``+`` (a channel or spatial mismatch either broadcasts silently or fails mid-sampling). So the
check below compares count and shapes before any sampling and refuses with one clear error.

What the current modifications do to the residual path:

* ``remove`` of a whole ``down_blocks.N.attentions.M`` / ``down_blocks.N.resnets.M`` turns the
  operator into an identity (``RemovedOperator`` returns its input), so the block still emits the
  residual at that position, with the same shape; the ControlNet residual is then added to the
  identity output (the previous layer's features). That is fine: it is exactly what the unpruned
  UNet would do with that layer contributing nothing. ``remove`` of ``attn1``/``attn2``/``ff``
  inside a transformer block changes nothing outside the block.
* ``shortcut`` keeps the resnet's own 1x1 ``conv_shortcut`` (input -> output channels), so the
  output channels are unchanged.
* ``width:r`` narrows channels/heads/hidden units *inside* an operator only; its output keeps
  the block's channels.
* ``fp8`` changes arithmetic, not shapes.
* Downsamplers, ``conv_in`` and block-channel-changing resnets' outputs are never removed, and
  the mid block's residual is added after the mid block (or, with ``mid_block_type=None``, to the
  last down output, which has the same shape).

So **no current modification can break ControlNet compatibility**; the check exists for plans
of future families, hand-edited models, and (most often) a ControlNet built for another config
(other ``block_out_channels`` / ``layers_per_block`` / number of blocks), which it refuses.
It traces the pruned UNet's down path once at a small latent size (batch 1, stopping before the
up blocks), so what it compares is what the model really produces.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from ..errors import LdpruneError

__all__ = ["ResidualSlot", "check_residual_inputs", "controlnet_compatibility", "expected_residuals", "unet_residuals"]


@dataclass(frozen=True)
class ResidualSlot:
    """One residual: where it comes from, its channels and its downsampling level (spatial /2**level)."""

    name: str
    channels: int
    level: int


class _Stop(Exception):
    pass


def _config_of(obj: Any) -> Mapping[str, Any]:
    cfg = getattr(obj, "config", obj)
    if not isinstance(cfg, Mapping):
        raise LdpruneError(f"expected a ControlNetModel or its config, got {type(obj).__name__}",
                           "pass the ControlNetModel, controlnet.config, or the original UNet's config dict")
    return cfg


def expected_residuals(controlnet_or_config: Any) -> tuple[list[ResidualSlot], ResidualSlot]:
    """The residuals a ControlNet emits: ``(down residuals in order, mid residual)``.

    From the config (``down_block_types``, ``block_out_channels``, ``layers_per_block``); where a
    ``ControlNetModel`` is given, the channels are read from its zero-convolutions instead.
    """
    cfg = _config_of(controlnet_or_config)
    try:
        types = list(cfg["down_block_types"])
        chans = list(cfg["block_out_channels"])
        lpb = cfg["layers_per_block"]
    except KeyError as e:
        raise LdpruneError(f"the ControlNet config has no {e.args[0]!r}",
                           "pass a ControlNetModel (or UNet2DConditionModel) config") from None
    lpb = list(lpb) if isinstance(lpb, (list, tuple)) else [lpb] * len(types)
    down = [ResidualSlot("conv_in", chans[0], 0)]
    for i, _ in enumerate(types):
        for j in range(lpb[i]):
            down.append(ResidualSlot(f"down_blocks.{i}.layer.{j}", chans[i], i))
        if i < len(types) - 1:
            down.append(ResidualSlot(f"down_blocks.{i}.downsamplers.0", chans[i], i + 1))
    mid = ResidualSlot("mid_block", chans[-1], len(types) - 1)
    convs = getattr(controlnet_or_config, "controlnet_down_blocks", None)
    mid_conv = getattr(controlnet_or_config, "controlnet_mid_block", None)
    if convs is not None and len(convs) == len(down):
        down = [ResidualSlot(s.name, c.out_channels, s.level) for s, c in zip(down, convs)]
    if mid_conv is not None and hasattr(mid_conv, "out_channels"):
        mid = ResidualSlot(mid.name, mid_conv.out_channels, mid.level)
    return down, mid


def downsampling(unet: nn.Module) -> int:
    """The UNet's total spatial downsampling (2 per down block with a downsampler)."""
    return 2 ** sum(1 for b in unet.down_blocks if getattr(b, "downsamplers", None) is not None)


def _trace_inputs(unet: nn.Module, size: int) -> tuple[tuple, dict[str, Any]]:
    p = next(unet.parameters())
    dev = p.device
    dt = p.dtype if p.dtype in (torch.float32, torch.float16, torch.bfloat16) else torch.float32
    cfg = unet.config
    sample = torch.zeros(1, cfg.in_channels, size, size, device=dev, dtype=dt)
    t = torch.ones(1, dtype=torch.long, device=dev)
    dim = getattr(cfg, "encoder_hid_dim", None) or cfg.cross_attention_dim
    dim = dim[0] if isinstance(dim, (list, tuple)) else dim
    ehs = torch.zeros(1, 1, dim, device=dev, dtype=dt)
    kw: dict[str, Any] = {}
    if getattr(cfg, "addition_embed_type", None) == "text_time":
        text_dim = cfg.projection_class_embeddings_input_dim - 6 * cfg.addition_time_embed_dim
        kw["added_cond_kwargs"] = {"text_embeds": torch.zeros(1, text_dim, device=dev, dtype=dt),
                                   "time_ids": torch.zeros(1, 6, device=dev, dtype=dt)}
    return (sample, t, ehs), kw


def _layer_names(i: int, block: nn.Module) -> list[str]:
    n = len(block.resnets)
    attn = getattr(block, "attentions", None)
    layer = "attentions" if attn is not None and len(attn) == n else "resnets"
    names = [f"down_blocks.{i}.{layer}.{j}" for j in range(n)]
    if getattr(block, "downsamplers", None) is not None:
        names += [f"down_blocks.{i}.downsamplers.{k}" for k in range(len(block.downsamplers))]
    return names


def unet_residuals(unet: nn.Module, latent_size: int | None = None, batch: int = 1
                   ) -> tuple[list[tuple[str, tuple[int, ...]]], tuple[int, ...]]:
    """What the (pruned) UNet's down path produces: ``([(operator, shape)...], mid shape)``.

    One forward of ``conv_in``, the down blocks and the mid block at ``latent_size`` (default:
    twice the UNet's total downsampling), stopped before the up blocks. Shapes are reported for
    ``batch`` (the trace itself runs at batch 1).
    """
    import inspect

    from diffusers import UNet2DConditionModel

    takes = isinstance(unet, UNet2DConditionModel) or \
        "down_block_additional_residuals" in inspect.signature(unet.forward).parameters
    if not hasattr(unet, "down_blocks") or not takes:
        raise LdpruneError(f"{type(unet).__name__} takes no ControlNet residuals",
                           "ControlNet works with UNet2DConditionModel-based models (SD 1.x/2.x, SDXL)")
    size = latent_size or 2 * downsampling(unet)
    produced: list[tuple[str, tuple[int, ...]]] = []
    mid: list[tuple[int, ...]] = []

    def shape(t: torch.Tensor) -> tuple[int, ...]:
        return (batch, *t.shape[1:])

    def on_conv_in(_m, _a, out):
        produced.append(("conv_in", shape(out)))

    def on_block(i):
        def hook(m, _a, out):
            res = out[1] if isinstance(out, tuple) and len(out) > 1 else ()
            names = _layer_names(i, m)
            for k, r in enumerate(res):
                produced.append((names[k] if k < len(names) else f"down_blocks.{i}.output.{k}", shape(r)))
        return hook

    def before_up(_m, args, kwargs):
        h = args[0] if args else kwargs["hidden_states"]
        mid.append(shape(h))
        raise _Stop

    handles = [unet.conv_in.register_forward_hook(on_conv_in)]
    handles += [b.register_forward_hook(on_block(i)) for i, b in enumerate(unet.down_blocks)]
    handles.append(unet.up_blocks[0].register_forward_pre_hook(before_up, with_kwargs=True))
    args, kw = _trace_inputs(unet, size)
    try:
        with torch.no_grad():
            unet(*args, return_dict=False, **kw)
    except _Stop:
        pass
    except RuntimeError as e:   # a shape error inside the down path itself
        raise LdpruneError(f"the pruned UNet's down path does not run at latent {size}x{size}: {e}",
                           "check the plan with `ldprune prune` / load_pruned before adding a ControlNet") from None
    finally:
        for h in handles:
            h.remove()
    if not mid:
        raise LdpruneError("the UNet's forward did not reach its up blocks", "report this with the model")
    return produced, mid[0]


def _plan_mods_in(unet: nn.Module, prefix: str) -> list[str]:
    from ..unet import model_plan

    plan = model_plan(unet)
    if plan is None:
        return []
    block = ".".join(prefix.split(".")[:2]) if prefix.startswith("down_blocks.") else prefix
    return [f"{m.operator} {m.modification}" for m in plan.modifications
            if m.operator == block or m.operator.startswith(block + ".")]


def _refuse(unet, where: str, what: str) -> LdpruneError:
    mods = _plan_mods_in(unet, where) if where != "the down blocks" else []
    block = ".".join(where.split(".")[:2]) if where.startswith("down_blocks.") else where
    by = f"; the plan's modifications in {block}: {', '.join(mods)}" if mods else ""
    return LdpruneError(
        f"ControlNet residuals do not fit the pruned UNet at {where}: {what}{by}",
        "use a ControlNet built for this UNet's original config (ControlNetModel.from_unet on the unpruned "
        f"model), or re-plan without the modifications that change {where}'s output")


def controlnet_compatibility(pruned_unet: nn.Module, controlnet_or_config: Any) -> None:
    """Raise ``LdpruneError`` unless ``pruned_unet`` accepts every ControlNet residual.

    ``controlnet_or_config``: a ``ControlNetModel``, its ``config``, or the original UNet's config
    (a ControlNet made with ``ControlNetModel.from_unet`` has the same down/mid layout). Checks the
    number of ``down_block_additional_residuals`` and, per residual and for
    ``mid_block_additional_residual``, the channels and the downsampling level, against the pruned
    UNet's traced down path. Returns ``None`` when compatible. See the module docstring for why
    every current modification (``remove`` included: the residual of an identity layer is still
    there) passes.
    """
    down, mid = expected_residuals(controlnet_or_config)
    produced, mid_shape = unet_residuals(pruned_unet)
    latent = 2 * downsampling(pruned_unet)
    if len(produced) != len(down):
        raise _refuse(pruned_unet, "the down blocks",
                      f"the ControlNet emits {len(down)} down-block residuals, the UNet's down path has "
                      f"{len(produced)} outputs (diffusers would silently drop "
                      f"{abs(len(down) - len(produced))} of them)")
    for k, (slot, (name, shp)) in enumerate(zip(down, produced)):
        want = (slot.channels, latent // 2 ** slot.level, latent // 2 ** slot.level)
        if tuple(shp[1:]) != want:
            raise _refuse(pruned_unet, name,
                          f"residual {k} ({slot.name} of the ControlNet) has {want[0]} channels at 1/"
                          f"{2 ** slot.level} resolution ({want[1]}x{want[2]} here), the UNet's output there has "
                          f"{shp[1]} channels at {shp[2]}x{shp[3]}")
    want = (mid.channels, latent // 2 ** mid.level, latent // 2 ** mid.level)
    if tuple(mid_shape[1:]) != want:
        raise _refuse(pruned_unet, "mid_block",
                      f"the mid residual has {want[0]} channels at {want[1]}x{want[2]}, the mid block's output "
                      f"has {mid_shape[1]} channels at {mid_shape[2]}x{mid_shape[3]}")


_TRACED: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


def check_residual_inputs(unet: nn.Module, sample: torch.Tensor, down: Any, mid: Any) -> None:
    """Raise ``LdpruneError`` unless the residual *tensors* a pipeline passes fit the pruned UNet:
    their count, and each one's channels and size against the UNet's own down/mid outputs at this
    ``sample``'s size. ``PrunedUNet2DConditionModel`` calls it at every call that carries
    residuals, so a ControlNet that does not fit stops at the first UNet call, before a denoising
    step is taken (diffusers would drop surplus residuals silently or fail deep inside a block).
    The down path is traced once per UNet (at a small latent) and kept."""
    if unet not in _TRACED:
        latent = 2 * downsampling(unet)
        _TRACED[unet] = (latent, *unet_residuals(unet, latent))
    latent, produced, mid_shape = _TRACED[unet]
    side = tuple(sample.shape[-2:])

    def want(shp: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
        # each downsampler halves with rounding up (stride-2 conv, padding 1), so a latent side that
        # is not a multiple of the total downsampling still has a defined size at every level
        out = side
        for _ in range(int(round(math.log2(latent / shp[-1])))):
            out = tuple((n + 1) // 2 for n in out)
        return shp[1], out

    if down is not None:
        down = list(down)
        if len(down) != len(produced):
            raise _refuse(unet, "the down blocks", f"{len(down)} down-block residuals were passed, the UNet's down "
                          f"path has {len(produced)} outputs (diffusers would silently drop "
                          f"{abs(len(down) - len(produced))} of them)")
        for k, (r, (name, shp)) in enumerate(zip(down, produced)):
            c, hw = want(shp)
            if r.shape[1] != c or tuple(r.shape[-2:]) != hw:
                raise _refuse(unet, name, f"residual {k} has {r.shape[1]} channels at {r.shape[-2]}x{r.shape[-1]}, the "
                              f"UNet's output there has {c} channels at {hw[0]}x{hw[1]} for this {side[0]}x{side[1]} "
                              "latent")
    if mid is not None:
        c, hw = want(mid_shape)
        if mid.shape[1] != c or tuple(mid.shape[-2:]) != hw:
            raise _refuse(unet, "mid_block", f"the mid residual has {mid.shape[1]} channels at {mid.shape[-2]}x"
                          f"{mid.shape[-1]}, the mid block's output has {c} channels at {hw[0]}x{hw[1]}")
