"""Which score runs are told that their scores may not repeat across processes."""

from ldprune_deploy.scoring.config import ScoreConfig
from ldprune_deploy.scoring.stage import cross_process_note


def cfg(**kw):
    return ScoreConfig(device="cuda", **kw)


def test_compiled_regions_on_cuda_mixing_processes_are_warned():
    note = cross_process_note(cfg(compile_blocks=True), "cuda", world=1, resumed=True)
    assert note and "deterministic=true" in note and "resumes" in note
    assert "4 processes" in cross_process_note(cfg(compile_blocks=True), "cuda:0", world=4, resumed=False)


def test_no_note_where_scores_repeat_or_one_process_scores_everything():
    assert cross_process_note(cfg(compile_blocks=True), "cuda", world=1, resumed=False) is None
    assert cross_process_note(cfg(), "cuda", world=4, resumed=True) is None            # eager / CUDA graph
    assert cross_process_note(cfg(compile_blocks=True), "cpu", world=2, resumed=True) is None
    det = cfg(compile_blocks=True, inductor={"deterministic": True})
    assert cross_process_note(det, "cuda", world=2, resumed=True) is None
