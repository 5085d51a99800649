"""Export stage: pruned UNet -> checked ONNX (+ TensorRT engines built from it).

See README.md in this folder for the exporter choice and the folder layout.
"""

from .config import ExportConfig, Range, parse_range
from .manifest import MANIFEST, ONNX_FILE, SCHEMA, read_manifest
from .stage import export

__all__ = ["ExportConfig", "MANIFEST", "ONNX_FILE", "Range", "SCHEMA", "export", "parse_range", "read_manifest"]
