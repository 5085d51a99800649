"""The recipe's keys: one table per section, each key with its type and default.

Types: ``int``, ``float``, ``str``, ``bool``, ``path`` (a string naming a file or folder that
must exist), ``strs`` (a list of strings; a single string is accepted as a one-item list),
``range`` (``8``, ``"1:8"`` or ``"1:2:8"``), ``dict``, ``verify`` (true, false or ``auto``).
A default of ``REQUIRED`` must be given. Defaults of ``None`` mean "the stage decides".
"""

from __future__ import annotations

REQUIRED = object()

TOP = {
    "name": ("str", None),
    "description": ("str", None),
    "model": ("str", REQUIRED),          # preset, diffusers folder or .safetensors
    "preset": ("str", None),             # architecture of a bare .safetensors model
}

SECTIONS: dict[str, dict[str, tuple[str, object]]] = {
    # what the plan is solved for: a committed GPU profile, or "now" (profile on this machine)
    "target": {
        "profile": ("str", REQUIRED),
        "backend": ("str", None),        # runner; default: the profile's (file) or torch-graph / cpu (now)
        "batch": ("int", None),
        "resolution": ("int", None),
        "dtype": ("str", None),
        "text_len": ("int", None),
        "methods": ("strs", ["isolated"]),
        "default_method": ("str", None),
        "include": ("strs", None),
        "max_candidates": ("int", None),
        "warmup": ("int", 10),
        "iters": ("int", 30),
        "op_warmup": ("int", 3),
        "op_iters": ("int", 30),
    },
    "score": {
        "method": ("str", "ld-pruner"),
        "n_gen": ("int", 64),
        "steps": ("int", 25),
        "scheduler": ("str", "ddim"),
        "guidance": ("float", 7.5),
        "resolution": ("int", None),
        "seed": ("int", 0),
        "prompts": ("path", None),
        "embeddings": ("path", None),
        "batch_size": ("int", None),
        "kinds": ("strs", None),
        "mods": ("strs", None),
        "include": ("str", None),
        "exclude": ("str", None),
        "device": ("str", None),         # default: cuda when present, else cpu
        "dtype": ("str", "fp32"),
        "cuda_graph": ("bool", None),    # default: on for CUDA (sampling's UNet call replayed from a graph)
    },
    "plan": {
        "budget": ("str", None),         # 70% | 8.5ms | 1.5x
        "speedup": ("str", None),
        "max_params": ("str", None),
        "max_flops": ("str", None),
        "strategy": ("str", "latency-aware"),
        "method": ("str", None),
        "verify": ("verify", "auto"),    # auto: when the target backend runs on this machine
        "backend": ("str", None),        # verify runner; default: the target backend
        "tolerance": ("float", 0.03),
        "max_rounds": ("int", 3),
        "correction": ("str", "scale"),
        "warmup": ("int", 10),
        "iters": ("int", 30),
        "time_limit_s": ("float", 60.0),
    },
    "distill": {
        "enabled": ("bool", True),
        "data": ("path", None),
        "data_free": ("bool", False),
        "steps": ("int", 1000),
        "batch_size": ("int", 8),
        "grad_accum": ("int", 1),
        "lr": ("float", 1e-4),
        "warmup_steps": ("int", 0),
        "lr_schedule": ("str", "constant"),
        "feat_loss": ("str", "normalized"),
        "lambda_task": ("float", 1.0),
        "lambda_out": ("float", 1.0),
        "lambda_feat": ("float", 1.0),
        "mixed_precision": ("str", "no"),
        "teacher_dtype": ("str", "fp32"),
        "ema_decay": ("float", None),
        "n_samples": ("int", 64),
        "gen_steps": ("int", 25),
        "gen_guidance": ("float", 7.5),
        "prompts": ("path", None),
        "text_encoder": ("path", None),
        "vae": ("path", None),
        "checkpoint_every": ("int", 0),
        "seed": ("int", 0),
        "cpu": ("bool", False),
    },
    "export": {
        "formats": ("strs", ["onnx"]),
        "precisions": ("strs", ["fp16"]),
        "batch": ("range", "1:2:8"),
        "resolution": ("range", None),
        "exporter": ("str", "torchscript"),
        "opset": ("int", 17),
        "optimize": ("str", None),
        "keep_fp32": ("strs", []),
        "check": ("bool", True),
        "range_scan": ("bool", True),
    },
    "evaluate": {
        "metrics": ("strs", ["fid"]),
        "n_samples": ("int", 1000),
        "steps": ("int", 25),
        "scheduler": ("str", "ddim"),
        "guidance": ("float", 7.5),
        "seed": ("int", 0),
        "batch_size": ("int", 16),
        "runner": ("str", None),         # default: the target backend when it runs here, else the evaluator's
        "latency_batch": ("int", None),  # default: the target batch
        "resolution": ("int", None),
        "dtype": ("str", None),
        "device": ("str", None),
        "warmup": ("int", 10),
        "iters": ("int", 30),
        "e2e_repeats": ("int", 3),
        "runner_options": ("dict", {}),
        "budget": ("str", None),         # default: the plan's latency budget
        "max_quality_drop": ("strs", ["10%"]),
        "feature_extractor": ("path", None),
        "inception_weights": ("path", None),
        "vggish_weights": ("path", None),
        "clip_weights": ("path", None),
        "vae": ("path", None),
        "latent_space": ("bool", False),
        "prompts": ("path", None),
        "embeddings": ("path", None),
        "reference": ("path", None),
        "gate": ("bool", True),          # false: report, but exit 0 whatever the gate says
    },
}

OPTIONAL_SECTIONS = ("score", "plan", "distill", "export", "evaluate")
