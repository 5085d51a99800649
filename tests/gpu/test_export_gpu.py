"""Export's numeric check on CUDA (PyTorch reference and ONNX Runtime's CUDA provider; tiny models, seconds)."""

import pytest

from ldprune_deploy.exporter import ExportConfig, export, read_manifest

pytestmark = pytest.mark.gpu


def _ort_cuda() -> bool:
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_check_runs_on_cuda_and_meets_the_cpu_tolerances(tmp_path, precision):
    if not _ort_cuda():
        pytest.skip("onnxruntime-gpu is not installed (stage it: benchmarks/stage_device_wheels.sh)")
    out = export("tiny-t2i", ExportConfig(output=str(tmp_path / precision), precision=precision, batch="1:2:2",
                                          resolution="64:128:128", check_device="cuda"))
    check = read_manifest(out)["check"]
    assert check["provider"] == "CUDAExecutionProvider" and check["reference_device"] == "cuda"
    # fp32 passes the fp32 tolerance (rel L2 1e-3) only if neither side used TF32
    assert check["passed"] and check["rel_l2"] < check["tolerance"]["rel_l2"], check
