"""TrainSettings' global step (start_step) and the rules that turn command-line options into a run."""

from __future__ import annotations

import dataclasses

import pytest

from facessd_archive.errors import ConfigError
from facessd_archive.model.checkpoint import save_config
from facessd_archive.model.config import face_config, wider_face_config
from facessd_archive.train.plan import RunOptions, model_config_for, train_settings_for
from facessd_archive.train.settings import TrainSettings


def test_start_step_counts_on_from_the_parent():
    s = TrainSettings(steps=9500, start_step=8000, warmup_steps=50)
    assert s.run_steps == 1500 and TrainSettings.from_dict(s.to_dict()) == s
    old = {k: v for k, v in s.to_dict().items() if k != "start_step"}  # settings recorded before start_step
    assert TrainSettings.from_dict(old).start_step == 0
    with pytest.raises(ConfigError, match=r"start_step must be in \[0, steps\), got 10 \(steps 10\)"):
        TrainSettings(steps=10, start_step=10, warmup_steps=0)
    with pytest.raises(ConfigError, match=r"warmup_steps must be in \[0, steps - start_step\], got 20"):
        TrainSettings(steps=30, start_step=20, warmup_steps=20)


def test_a_continued_run_inherits_the_parent_config_and_only_what_changed_changes(tmp_path):
    parent = wider_face_config(input_size=384, depth_multiplier=0.5)
    save_config(parent, tmp_path)
    config = model_config_for(RunOptions(input_size=512), tmp_path)
    assert config.input_size == 512 and dataclasses.replace(config, input_size=384) == parent
    assert model_config_for(RunOptions(), tmp_path) == parent
    assert model_config_for(RunOptions(depth_multiplier=0.25), tmp_path).depth_multiplier == 0.25
    settings = train_settings_for(RunOptions(steps=1500, warmup_steps=50), config, start_step=4000,
                                  warm_started=True)
    assert (settings.start_step, settings.steps, settings.run_steps) == (4000, 5500, 1500)
    assert settings.crop == "square" and settings.photometric  # a keep-aspect model trains the wider way
    assert settings.pretrained_backbone is None


def test_fresh_runs_come_from_presets():
    assert model_config_for(RunOptions(preset="facemask", input_size=96), None) == face_config(96)
    with pytest.raises(ConfigError, match="wider-v2 is MobileNetV2 at depth multiplier 1.0"):
        model_config_for(RunOptions(preset="wider-v2", depth_multiplier=0.5), None)
    s = train_settings_for(RunOptions(steps=3, warmup_steps=100), face_config(96))
    assert (s.steps, s.start_step, s.warmup_steps) == (3, 0, 3)
