"""Learning-rate schedules (the OD API's ``cosine_decay_with_warmup``, as in its sync configs)."""

from __future__ import annotations

import math

import keras
import tensorflow as tf


class CosineDecayWithWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ``warmup_learning_rate`` to ``base`` over ``warmup_steps``, then cosine to 0 at
    ``total_steps``. Matches ``object_detection.utils.learning_schedules.cosine_decay_with_warmup``
    (without the hold phase)."""

    def __init__(self, base: float, total_steps: int, warmup_learning_rate: float = 0.0, warmup_steps: int = 0):
        if total_steps <= 0 or warmup_steps < 0 or warmup_steps > total_steps:
            raise ValueError(f"need 0 <= warmup_steps <= total_steps and total_steps > 0, got "
                             f"warmup_steps={warmup_steps}, total_steps={total_steps}")
        if warmup_steps and warmup_learning_rate > base:
            raise ValueError(f"warmup_learning_rate {warmup_learning_rate} exceeds the base rate {base}")
        self.base = base
        self.total_steps = total_steps
        self.warmup_learning_rate = warmup_learning_rate
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        decay_steps = float(max(self.total_steps - self.warmup_steps, 1))
        progress = tf.clip_by_value((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        cosine = 0.5 * self.base * (1.0 + tf.cos(math.pi * progress))
        if self.warmup_steps > 0:
            slope = (self.base - self.warmup_learning_rate) / self.warmup_steps
            warm = self.warmup_learning_rate + slope * step
            return tf.where(step < self.warmup_steps, warm, cosine)
        return cosine

    def get_config(self):
        return {"base": self.base, "total_steps": self.total_steps,
                "warmup_learning_rate": self.warmup_learning_rate, "warmup_steps": self.warmup_steps}
