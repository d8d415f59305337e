"""``facessd train --schedule`` under a tf.distribute strategy: MirroredStrategy over two logical CPU devices
(a subprocess: logical devices must be set before TensorFlow starts) trains a two-stage schedule, and
both stages are sealed with their lineage, as under the default strategy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from distributed_helpers import assert_all_succeeded, run_two_workers

from facessd_archive.archive import Archive

SCRIPT = r'''
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pathlib import Path
from facessd_archive.archive import Archive
from facessd_archive.data.synthetic.benchmark import sample_benchmark
from facessd_archive.train.plan import RunOptions
from facessd_archive.train.progressive import parse_schedule, run_schedule
out = Path(sys.argv[1])
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
options = RunOptions(depth_multiplier=0.25, pretrained=False, batch_size=4, warmup_steps=0, checkpoint_every=2)
archive = Archive(out / "archive")
done = run_schedule(archive, parse_schedule("64:2,96:2"), "keypoints/v9/mirrored", options,
                    sample_benchmark(seed=0, num_images=8, cache_dir=out / "synthetic"), out / "runs",
                    strategy=strategy, progress=False, hardware="2 logical CPU devices")
stages = [archive.get(s).manifest for s in done.stage_ids]
print(json.dumps({"ids": done.stage_ids, "sealed_now": done.sealed_now, "replicas": strategy.num_replicas_in_sync,
                  "parents": [m.parent.stage_id if m.parent else None for m in stages],
                  "parent_hash_ok": stages[1].parent.content_hash == stages[0].content_hash,
                  "steps": [m.training.steps for m in stages], "sizes": [m.model_config.input_size for m in stages],
                  "schedule": json.loads((out / "runs" / "schedule.json").read_text())["sealed"]}))
'''


@pytest.mark.slow
def test_a_two_stage_schedule_under_mirrored_seals_both_stages(tmp_path):
    process = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                             timeout=900, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert process.returncode == 0, process.stderr[-3000:]
    r = json.loads(process.stdout.strip().splitlines()[-1])
    first, second = "keypoints/v9/mirrored_64_2", "keypoints/v9/mirrored_64_To_96_4"
    assert r["replicas"] == 2
    assert r["ids"] == r["sealed_now"] == r["schedule"] == [first, second]
    assert r["parents"] == [None, first] and r["parent_hash_ok"]
    assert r["sizes"] == [64, 96]


WORKER = r'''
import json, os, sys
from pathlib import Path
from facessd_archive.train.strategies import is_chief, make_strategy
strategy = make_strategy("multiworker")
from facessd_archive.archive import Archive
from facessd_archive.data.synthetic.benchmark import sample_benchmark
from facessd_archive.train.plan import RunOptions
from facessd_archive.train.progressive import parse_schedule, run_schedule
out = Path(sys.argv[1])
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
options = RunOptions(depth_multiplier=0.25, pretrained=False, batch_size=4, warmup_steps=0, checkpoint_every=2)
done = run_schedule(Archive(out / "archive"), parse_schedule("64:2,96:2"), "keypoints/v9/workers", options,
                    sample_benchmark(seed=0, num_images=8, cache_dir=out / f"synthetic{index}"), out / "runs",
                    strategy=strategy, progress=False, hardware="two processes on loopback", wait_seconds=600)
print(json.dumps({"chief": is_chief(strategy), "ids": done.stage_ids, "sealed_now": done.sealed_now}))
'''


@pytest.mark.slow
def test_a_schedule_on_two_multiworker_processes_is_sealed_once_by_the_chief(tmp_path):
    """The other worker trains each stage with the chief and waits for the chief's seal before the next."""
    results = run_two_workers(lambda index: [sys.executable, "-c", WORKER, str(tmp_path)])
    assert_all_succeeded(results)
    chief, other = (json.loads(r.stdout.strip().splitlines()[-1]) for r in results)
    first, second = "keypoints/v9/workers_64_2", "keypoints/v9/workers_64_To_96_4"
    assert chief == {"chief": True, "ids": [first, second], "sealed_now": [first, second]}
    assert other == {"chief": False, "ids": [first, second], "sealed_now": []}
    archive = Archive(tmp_path / "archive")
    assert archive.get(second).manifest.parent.content_hash == archive.get(first).manifest.content_hash
    assert json.loads((tmp_path / "runs" / "schedule.json").read_text())["sealed"] == [first, second]
