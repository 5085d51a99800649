"""Stage packages named like their stage function stay callable.

``ldprune_deploy.distill`` (and ``export``, ``evaluate``) is both a package and, through the
lazy map in ``ldprune_deploy/__init__.py``, the stage function. Importing the package makes
Python bind the name to the module on the parent package, shadowing the function; making the
module callable keeps ``ldprune_deploy.distill(teacher, student, cfg)`` working either way.
"""

from __future__ import annotations

import sys
import types


def make_package_callable(package: str, function_name: str) -> None:
    class _CallableStage(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return getattr(self, function_name)(*args, **kwargs)

    sys.modules[package].__class__ = _CallableStage
