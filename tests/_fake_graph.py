"""A CPU stand-in for ``graph_call.GraphedCall``'s CUDA capture, shared by the tests."""

from __future__ import annotations

import torch
from torch.utils._pytree import tree_unflatten

from ldprune_deploy.graph_call import GraphedCall


class FakeGraphed(GraphedCall):
    """Warm-up is a plain call; a "replay" re-runs the call on the static buffers, as a graph replay reads them."""

    def _warmup(self, inputs):
        return self.fn(**inputs)

    def _capture(self, leaves, spec):
        static = [x.clone() if torch.is_tensor(x) else x for x in leaves]
        out = torch.empty(0)

        def replay():
            out.set_(self.fn(**tree_unflatten(static, spec)))
        replay()
        return replay, static, out
