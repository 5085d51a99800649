"""The quality benchmarks' data: offline data sets, caption embeddings, proxy feature
extractors and teacher configs (``ldprune data …`` builds them; ``benchmarks/`` uses them).

Kept apart from the pruning stages, which never import this package: what they share with
it, the data spaces a teacher works in, is ``spaces``. Everything is built from Debian
packages and one PyPI model on the CPU machine, cached as ``.npz`` under ``data_cache/``
(git-ignored) and carried to the GPU machine.
"""

from .common import cache_dir, load_npz

__all__ = ["cache_dir", "load_npz", "load_emoji", "load_notes"]


def load_emoji(out=None, limit=None) -> dict:
    return load_npz(cache_dir(out) / ("emoji.npz" if limit is None else f"emoji-{limit}.npz"), "emoji")


def load_notes(out=None, limit=None) -> dict:
    return load_npz(cache_dir(out) / ("notes.npz" if limit is None else f"notes-{limit}.npz"), "notes")
