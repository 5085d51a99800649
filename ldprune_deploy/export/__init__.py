"""Export stage: pruned UNet -> checked ONNX (+ TensorRT engines built from it).

See README.md in this folder for the exporter choice and the folder layout.
"""

from .config import ExportConfig, Range, parse_range
from .manifest import MANIFEST, ONNX_FILE, SCHEMA, read_manifest
from .stage import export

__all__ = ["ExportConfig", "MANIFEST", "ONNX_FILE", "Range", "SCHEMA", "export", "parse_range", "read_manifest"]


def _make_callable() -> None:
    # ``ldprune_deploy.export`` is both this package and the stage function: once the package
    # is imported, Python binds the name to the module, so the module itself must be callable.
    import sys
    import types

    class _StageModule(types.ModuleType):
        def __call__(self, model, config=None, **overrides):
            return export(model, config, **overrides)

    sys.modules[__name__].__class__ = _StageModule


_make_callable()
