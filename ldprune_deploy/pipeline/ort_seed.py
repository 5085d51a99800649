"""Let the evaluator's ONNX Runtime runner time the pipeline's own export of the candidate.

The ORT runners export a torch model on the fly into a cache folder named by model + plan
fingerprint, precision, shapes, exporter and optimizer target. Linking the export stage's
folder under that name makes the evaluator run exactly the ONNX this pipeline ships (the
runner still checks that its batch/resolution ranges hold the timed shapes). The teacher is
exported on the fly as usual.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..jsonio import read_json

log = logging.getLogger("ldprune")


def seed_ort_cache(export_folder: Path, cache_dir: Path, ev: dict[str, Any], recipe) -> Path | None:
    if not (export_folder / "export.json").is_file():
        return None
    man = read_json(export_folder / "export.json")
    dtype = ev["dtype"] or ("fp16" if ev["runner"] == "ort-cuda" else "fp32")
    if man.get("precision") != dtype:
        log.info("evaluator runs %s, the export is %s: the runner exports its own copy", dtype, man.get("precision"))
        return None
    model = man.get("model", {})
    res = ev["resolution"] or man["ranges"]["resolution"][1]
    optimize = (ev["runner_options"] or {}).get("optimize")
    target = ("cuda" if ev["runner"] == "ort-cuda" else "cpu") if optimize else None
    have = (man.get("ort_optimizer") or {}).get("target")
    if have != target:
        return None
    exporter = (ev["runner_options"] or {}).get("exporter", "torchscript")
    if man.get("exporter") != exporter:
        return None
    key = (f"{model.get('fingerprint')}-{model.get('plan_fingerprint') or 'base'}-{dtype}-b{ev['latency_batch']}"
           f"-r{res}-{exporter}-{target or 'plain'}")
    link = cache_dir / key
    cache_dir.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        if link.is_symlink() and Path(os.readlink(link)) == export_folder.resolve():
            return link
        return None   # a real export of the same model and settings is already cached there
    link.symlink_to(export_folder.resolve(), target_is_directory=True)
    return link
