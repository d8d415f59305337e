"""Cosine decay with linear warm-up (OD API cosine_decay_with_warmup), and TrainSettings validation."""

from __future__ import annotations

import math

import pytest

from facessd_archive.errors import ConfigError
from facessd_archive.train.schedules import CosineDecayWithWarmup
from facessd_archive.train.settings import TrainSettings


def _lr(schedule, step):
    return float(schedule(step))


def test_cosine_with_warmup_key_points():
    s = CosineDecayWithWarmup(base=0.1, total_steps=110, warmup_learning_rate=0.01, warmup_steps=10)
    assert _lr(s, 0) == pytest.approx(0.01)
    assert _lr(s, 5) == pytest.approx(0.055)  # linear: 0.01 + (0.1 - 0.01) * 5 / 10
    assert _lr(s, 10) == pytest.approx(0.1)  # warm-up end: the base rate
    assert _lr(s, 60) == pytest.approx(0.05)  # half-way through the decay
    assert _lr(s, 35) == pytest.approx(0.05 * (1 + math.cos(math.pi * 0.25)))
    assert _lr(s, 110) == pytest.approx(0.0, abs=1e-9)
    assert _lr(s, 500) == pytest.approx(0.0, abs=1e-9)  # stays at 0 past the end


def test_cosine_without_warmup():
    s = CosineDecayWithWarmup(base=2.0, total_steps=100)
    assert _lr(s, 0) == pytest.approx(2.0)
    assert _lr(s, 50) == pytest.approx(1.0)
    assert _lr(s, 100) == pytest.approx(0.0, abs=1e-9)


def test_schedule_is_monotone_after_warmup():
    s = CosineDecayWithWarmup(base=1.0, total_steps=40, warmup_learning_rate=0.1, warmup_steps=8)
    values = [_lr(s, i) for i in range(41)]
    assert all(a < b for a, b in zip(values[:8], values[1:9]))
    assert all(a >= b for a, b in zip(values[8:], values[9:]))


def test_schedule_validation_and_config():
    with pytest.raises(ValueError, match="need 0 <= warmup_steps <= total_steps"):
        CosineDecayWithWarmup(0.1, total_steps=10, warmup_steps=20)
    with pytest.raises(ValueError, match="total_steps > 0"):
        CosineDecayWithWarmup(0.1, total_steps=0)
    with pytest.raises(ValueError, match="warmup_learning_rate 0.5 exceeds the base rate 0.1"):
        CosineDecayWithWarmup(0.1, total_steps=10, warmup_learning_rate=0.5, warmup_steps=2)
    s = CosineDecayWithWarmup(0.1, 100, 0.01, 10)
    clone = CosineDecayWithWarmup.from_config(s.get_config())
    assert _lr(clone, 5) == pytest.approx(_lr(s, 5))


def test_train_settings_validation_and_round_trip():
    with pytest.raises(ConfigError, match="warmup_steps must be in \\[0, steps\\], got 100"):
        TrainSettings(steps=30)
    with pytest.raises(ConfigError, match="steps must be > 0"):
        TrainSettings(steps=0, warmup_steps=0)
    with pytest.raises(ConfigError, match="optimizer must be 'momentum' or 'adam', got 'sgd'"):
        TrainSettings(optimizer="sgd")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['lr'\]"):
        TrainSettings.from_dict({"lr": 0.1})
    s = TrainSettings(steps=50, warmup_steps=5, augment=False)
    assert TrainSettings.from_dict(s.to_dict()) == s
