"""Choosing a ``tf.distribute`` strategy by name, and which process is the chief.

``default``: one device (TensorFlow's default strategy). ``mirrored``: every local GPU (or the CPU
when there is none), one replica each, variables mirrored, gradients all-reduced.
``multiworker``: ``MultiWorkerMirroredStrategy`` over the machines ``TF_CONFIG`` names (each
process runs the same command with its own ``task``). ``tpu``: ``TPUStrategy`` on the TPU a
``TPUClusterResolver`` finds (``--tpu NAME``, ``local`` on a Cloud TPU VM). See docs/distributed.md.

The batch size the user gives is the global batch: each replica gets ``batch / replicas``.
Only the chief writes checkpoints, summaries and stages; other workers save into a temporary
folder that is deleted (saving may need every worker's part in a collective).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from facessd_archive.errors import ConfigError

STRATEGY_NAMES = ("default", "mirrored", "multiworker", "tpu")


def make_strategy(name: str = "default", tpu: str | None = None) -> tf.distribute.Strategy:
    """The strategy called ``name``; a one-line ConfigError when it cannot be made here.

    Make it before any other TensorFlow work: ``multiworker`` and ``tpu`` must configure the
    runtime before it starts."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        config = os.environ.get("TF_CONFIG")
        if not config:
            raise ConfigError("--strategy multiworker needs TF_CONFIG (the cluster and this process's task); "
                              "see docs/distributed.md")
        try:
            parsed = json.loads(config)
        except json.JSONDecodeError as e:
            raise ConfigError(f"TF_CONFIG is not valid JSON ({e.msg})") from None
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except (tf.errors.OpError, ValueError) as e:
            # The usual cause: this task's port is taken (TensorFlow says only "Could not start gRPC server").
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise ConfigError(f"--strategy multiworker: cannot start this worker ({_own_address(parsed)}): {first}; "
                              "is its port in use, or TF_CONFIG's task wrong?") from None
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError, RuntimeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise ConfigError(f"--strategy tpu: no TPU {tpu or '(local)'!r} reachable ({first})") from None
        return tf.distribute.TPUStrategy(resolver)
    raise ConfigError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGY_NAMES)}")


def _own_address(tf_config: object) -> str:
    """``task worker 1 at host:port`` from a parsed TF_CONFIG, as far as it says."""
    try:
        task = tf_config["task"]
        address = tf_config["cluster"][task["type"]][int(task["index"])]
        return f"task {task['type']} {task['index']} at {address}"
    except (KeyError, IndexError, TypeError, ValueError):
        return "TF_CONFIG names no task address"


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the process that writes: the only one, the ``chief`` task, or worker 0 without a chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def describe(strategy: tf.distribute.Strategy) -> str:
    """``MirroredStrategy, 2 replicas`` (for logs and the stage's hardware line)."""
    return f"{type(strategy).__name__}, {strategy.num_replicas_in_sync} replica(s)"
