"""Progressive schedules: several stages back to back, each sealed with its parent, resumed after a kill.

The slow test runs ``facessd train --schedule`` in a real subprocess, kills it (SIGKILL) while its
second stage trains, and runs the same command again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from facessd_archive.archive import Archive
from facessd_archive.archive.listing import stage_rows
from facessd_archive.cli import main
from facessd_archive.errors import ConfigError
from facessd_archive.train.progressive import ScheduleStage, parse_schedule, schedule_stage_ids, steps_label

VOC = Path(__file__).parent / "fixtures" / "benchmarks" / "voc"
PREFIX = "keypoints/v9/sched"


def test_schedule_text_and_stage_names():
    assert parse_schedule("160:4000, 320:3000,512:1000") == (
        ScheduleStage(160, 4000), ScheduleStage(320, 3000), ScheduleStage(512, 1000))
    with pytest.raises(ConfigError, match="'320-3000' is not SIZE:STEPS"):
        parse_schedule("160:4000,320-3000")
    with pytest.raises(ConfigError, match="needs a size >= 33 and steps > 0"):
        parse_schedule("160:0")
    assert [steps_label(n) for n in (12, 4000, 9500, 300_000, 1_600_000, 3_000_000)] == [
        "12", "4K", "9K5", "300K", "1_6M", "3M"]
    stages = parse_schedule("150:900000,360:700000")
    assert schedule_stage_ids("keypoints/v1/v1", stages) == [
        "keypoints/v1/v1_150_900K", "keypoints/v1/v1_150_To_360_1_6M"]
    assert schedule_stage_ids("k/x", parse_schedule("512:1500"), start_step=8000, start_size=384) == [
        "k/x_384_To_512_9K5"]


def _command(out: Path, archive: Path) -> list[str]:
    return ["train", "--schedule", "64:2,96:12", "--stage-prefix", PREFIX, "--data", str(VOC), "--out", str(out),
            "--archive", str(archive), "--depth-multiplier", "0.25", "--batch-size", "2", "--checkpoint-every", "2",
            "--warmup-steps", "0", "--eval-benchmark", str(VOC), "--eval-every", "100"]


@pytest.mark.slow
def test_a_two_stage_schedule_seals_both_and_resumes_after_a_kill(tmp_path):
    out, root = tmp_path / "runs", tmp_path / "archive"
    first, second = f"{PREFIX}_64_2", f"{PREFIX}_64_To_96_14"
    process = subprocess.Popen([sys.executable, "-c", "from facessd_archive.cli import main; main()",
                                *_command(out, root)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    checkpoints = out / "2-96" / "checkpoints"
    try:
        deadline = time.monotonic() + 600
        # Stage 1 sealed, stage 2 part-way: a checkpoint counts once the manager's state file names it.
        while not (checkpoints / "checkpoint").is_file():
            assert process.poll() is None, f"the schedule ended before it could be killed: {process.stderr.read()}"
            assert time.monotonic() < deadline, "stage 2 never wrote a checkpoint"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
        process.stderr.close()
    import tensorflow as tf

    killed_at = int(tf.train.latest_checkpoint(str(checkpoints)).rsplit("-", 1)[1])
    assert 2 < killed_at < 14
    archive = Archive(root)
    assert archive.exists(first) and not archive.exists(second)
    assert json.loads((out / "schedule.json").read_text())["sealed"] == [first]
    first_hash = archive.get(first).manifest.content_hash

    result = CliRunner().invoke(main, _command(out, root), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"{first}: sealed already, continuing from it" in result.output
    assert f"resuming {out / '2-96'} from step {killed_at}" in result.output
    assert f"{first}: sealed before" in result.output and f"{second}: sealed" in result.output

    archive = Archive(root)
    one, two = archive.get(first).manifest, archive.get(second).manifest
    assert one.content_hash == first_hash and one.parent is None
    assert (two.parent.stage_id, two.parent.content_hash) == (first, first_hash)
    assert (one.training.steps, two.training.steps, two.training.settings["start_step"]) == (2, 14, 2)
    assert (one.model_config.input_size, two.model_config.input_size) == (64, 96)
    for m in (one, two):
        (evaluation,) = m.evaluations
        assert evaluation.source == "measured" and evaluation.input_size == m.model_config.input_size
        assert m.reference_benchmark == evaluation.benchmark.id
        assert {"plots/loss.png", "plots/map.png", "warm_start.json" if m is two else "train_settings.json"} <= {
            f.path for f in m.files}
    rows = {r[0]: r for r in stage_rows(archive)}
    assert rows[second][3] == "14 (+12)"
    history = [json.loads(line)["step"] for line in (out / "2-96" / "history.jsonl").read_text().splitlines()]
    assert history[0] == 3 and history[-1] == 14 and killed_at + 1 in history
    verify = CliRunner().invoke(main, ["verify", "--archive", str(root)])
    assert verify.exit_code == 0 and verify.output.count("ok   ") == 2


def test_a_different_plan_in_the_same_folder_is_refused(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "schedule.json").write_text(json.dumps(
        {"plan": {"stages": [[64, 2]], "prefix": PREFIX, "from": None}, "sealed": []}))
    result = CliRunner().invoke(main, _command(tmp_path / "runs", tmp_path / "archive"))
    assert result.exit_code == 2 and "holds another schedule" in result.output
