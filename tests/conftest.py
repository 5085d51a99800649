import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def tiny_t2i():
    from ldprune_deploy.models import load_model

    return load_model("tiny-t2i", quiet=True)


@pytest.fixture(scope="session")
def tiny_uncond():
    from ldprune_deploy.models import load_model

    return load_model("tiny-uncond", quiet=True)


@pytest.fixture(params=["tiny-t2i", "tiny-uncond"])
def tiny_model(request):
    from ldprune_deploy.models import load_model

    return load_model(request.param, quiet=True)


@pytest.fixture(scope="module")
def one_thread():
    """For modules of tiny models that gain nothing from a second thread: on a shared 2-core
    machine two spinning OpenMP threads made such a module ~4x slower (measured); restored after."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
