"""benchmarks/progressive.py: the time-to-accuracy comparison on hand-made curves, and its argument checks.

The training itself is the library's (``train``, ``run_schedule``: tested in test_train_schedule.py);
a real run of the script takes minutes and lives in docs/progressive-resizing.md, not here.
"""

from __future__ import annotations

import pytest
from benchmark_helpers import loaded_benchmark


@pytest.fixture(scope="module")
def progressive():
    yield from loaded_benchmark("progressive.py", "progressive_benchmark")


def _arm(module, name, points):
    return {"arm": name, "sizes": [320], "steps": [100], "seconds_per_step": {"320": 1.0},
            "curve": [{"step": i, "train_seconds": t, module.MAP50: m, module.MAP: m / 2}
                      for i, (t, m) in enumerate(points)]}


def test_time_ratio_is_the_first_progressive_point_reaching_the_fixed_final(progressive):
    fixed = _arm(progressive, "fixed", [(100, 0.2), (200, 0.4), (400, 0.5)])
    prog = _arm(progressive, "progressive", [(100, 0.3), (180, 0.5), (400, 0.6)])
    summary = progressive.compare(fixed, prog)
    assert summary["fixed_final_map50"] == 0.5
    assert summary["progressive_seconds_to_fixed_final"] == 180
    assert summary["time_ratio"] == pytest.approx(0.45)
    assert summary["target_met"]
    assert "0.45x" in progressive.format_report(fixed, prog, summary)


def test_never_reaching_the_fixed_final_is_reported_not_met(progressive):
    fixed = _arm(progressive, "fixed", [(100, 0.2), (400, 0.5)])
    prog = _arm(progressive, "progressive", [(100, 0.3), (400, 0.49)])
    summary = progressive.compare(fixed, prog)
    assert summary["time_ratio"] is None and not summary["target_met"]
    assert "never reached" in progressive.format_report(fixed, prog, summary)


def test_arguments_are_checked(progressive):
    with pytest.raises(SystemExit):
        progressive.parse_args(["--out", "x", "--first-share", "1.5", "--synthetic"])
    args = progressive.parse_args(["--out", "x", "--synthetic"])
    assert args.data is None and args.eval_benchmark is None
