"""Object Detection API runs built here: a TF1 checkpoint under the OD API's own variable names, and
its ``pipeline.config`` in the OD API's text format (the zoo's ``ssd_mobilenet_v1_coco.config``).

The names are written out from the OD API's scope rules (DESIGN.md), not from facessd's mapping,
so a mapping error in ``odapi/tf1_checkpoint.py`` cannot cancel out here. The checkpoint is
written by ``tf.compat.v1.train.Saver`` in graph mode, with RMSProp slots, an optional
ExponentialMovingAverage of every trainable variable, and a ``global_step``: what
``model_main.py`` / ``train.py`` leave in a training folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facessd_archive.model.config import MOBILENET_V1_BLOCKS, ModelConfig

SCOPE = "FeatureExtractor/MobilenetV1"


def pipeline_text(input_size: int = 64, depth_multiplier: float = 0.5, num_classes: int = 1,
                  feature_extractor: str = "ssd_mobilenet_v1", extra_ssd: str = "",
                  resizer: str | None = None) -> str:
    """The zoo's ssd_mobilenet_v1_coco.config with the given size, depth and classes."""
    resizer = resizer or f"fixed_shape_resizer {{\n        height: {input_size}\n        width: {input_size}\n      }}"
    return f"""# SSD with Mobilenet v1, as the OD API's samples/configs write it.
model {{
  ssd {{
    num_classes: {num_classes}
    box_coder {{
      faster_rcnn_box_coder {{
        y_scale: 10.0
        x_scale: 10.0
        height_scale: 5.0
        width_scale: 5.0
      }}
    }}
    matcher {{
      argmax_matcher {{
        matched_threshold: 0.5
        unmatched_threshold: 0.5
        ignore_thresholds: false
        negatives_lower_than_unmatched: true
        force_match_for_each_row: true
      }}
    }}
    similarity_calculator {{
      iou_similarity {{
      }}
    }}
    anchor_generator {{
      ssd_anchor_generator {{
        num_layers: 6
        min_scale: 0.2
        max_scale: 0.95
        aspect_ratios: 1.0
        aspect_ratios: 2.0
        aspect_ratios: 0.5
        aspect_ratios: 3.0
        aspect_ratios: 0.3333
      }}
    }}
    image_resizer {{
      {resizer}
    }}
    box_predictor {{
      convolutional_box_predictor {{
        min_depth: 0
        max_depth: 0
        num_layers_before_predictor: 0
        use_dropout: false
        dropout_keep_probability: 0.8
        kernel_size: 1
        box_code_size: 4
        apply_sigmoid_to_scores: false
        conv_hyperparams {{
          activation: RELU_6,
          regularizer {{
            l2_regularizer {{
              weight: 0.00004
            }}
          }}
          initializer {{
            truncated_normal_initializer {{
              stddev: 0.03
              mean: 0.0
            }}
          }}
          batch_norm {{
            train: true,
            scale: true,
            center: true,
            decay: 0.9997,
            epsilon: 0.001,
          }}
        }}
      }}
    }}
    feature_extractor {{
      type: '{feature_extractor}'
      min_depth: 16
      depth_multiplier: {depth_multiplier}
      conv_hyperparams {{
        activation: RELU_6,
        regularizer {{
          l2_regularizer {{
            weight: 0.00004
          }}
        }}
        initializer {{
          truncated_normal_initializer {{
            stddev: 0.03
            mean: 0.0
          }}
        }}
        batch_norm {{
          train: true,
          scale: true,
          center: true,
          decay: 0.9997,
          epsilon: 0.001,
        }}
      }}
    }}
    loss {{
      classification_loss {{
        weighted_sigmoid {{
        }}
      }}
      localization_loss {{
        weighted_smooth_l1 {{
        }}
      }}
      hard_example_miner {{
        num_hard_examples: 3000
        iou_threshold: 0.99
        loss_type: CLASSIFICATION
        max_negatives_per_positive: 3
        min_negatives_per_image: 0
      }}
      classification_weight: 1.0
      localization_weight: 1.0
    }}
    normalize_loss_by_num_matches: true
    post_processing {{
      batch_non_max_suppression {{
        score_threshold: 1e-8
        iou_threshold: 0.6
        max_detections_per_class: 100
        max_total_detections: 100
      }}
      score_converter: SIGMOID
    }}{extra_ssd}
  }}
}}

train_config: {{
  batch_size: 24
  optimizer {{
    rms_prop_optimizer: {{
      learning_rate: {{
        exponential_decay_learning_rate {{
          initial_learning_rate: 0.004
          decay_steps: 800720
          decay_factor: 0.95
        }}
      }}
      momentum_optimizer_value: 0.9
      decay: 0.9
      epsilon: 1.0
    }}
  }}
  fine_tune_checkpoint: "PATH_TO_BE_CONFIGURED/model.ckpt"
  from_detection_checkpoint: true
  num_steps: 200000
  data_augmentation_options {{
    random_horizontal_flip {{
    }}
  }}
  data_augmentation_options {{
    ssd_random_crop {{
    }}
  }}
}}

train_input_reader: {{
  tf_record_input_reader {{
    input_path: "PATH_TO_BE_CONFIGURED/mscoco_train.record-?????-of-00100"
  }}
  label_map_path: "PATH_TO_BE_CONFIGURED/mscoco_label_map.pbtxt"
}}

eval_config: {{
  num_examples: 8000
  max_evals: 10
}}
"""


def odapi_layout(config: ModelConfig) -> list[tuple[str, str, list[str]]]:
    """(OD API scope, Keras layer name, OD API variable names in Keras weight order) for ssd_mobilenet_v1."""
    bn = ["BatchNorm/gamma", "BatchNorm/beta", "BatchNorm/moving_mean", "BatchNorm/moving_variance"]
    out = [(f"{SCOPE}/Conv2d_0", "Conv2d_0", ["weights"])]
    out.append((f"{SCOPE}/Conv2d_0", "Conv2d_0_BatchNorm", bn))
    for i in range(1, len(MOBILENET_V1_BLOCKS) + 1):
        for kind, weights in (("depthwise", "depthwise_weights"), ("pointwise", "weights")):
            layer = f"Conv2d_{i}_{kind}"
            out.append((f"{SCOPE}/{layer}", layer, [weights]))
            out.append((f"{SCOPE}/{layer}", f"{layer}_BatchNorm", bn))
    for j, depth in enumerate(config.feature_maps.extra_depths, start=2):
        half, full = config.depth(depth // 2), config.depth(depth)
        for layer in (f"Conv2d_13_pointwise_1_Conv2d_{j}_1x1_{half}", f"Conv2d_13_pointwise_2_Conv2d_{j}_3x3_s2_{full}"):
            out.append((f"{SCOPE}/{layer}", layer, ["weights"]))
            out.append((f"{SCOPE}/{layer}", f"{layer}_BatchNorm", bn))
    for k in range(config.anchors.num_layers):
        for head in ("BoxEncodingPredictor", "ClassPredictor"):
            out.append((f"BoxPredictor_{k}/{head}", f"BoxPredictor_{k}_{head}", ["weights", "biases"]))
    return out


def odapi_variables(detector) -> dict[str, np.ndarray]:
    """The detector's weights under the OD API's names (what a TF1 run of the same model would save)."""
    values = {}
    for scope, layer_name, names in odapi_layout(detector.config):
        weights = detector.network.get_layer(layer_name).get_weights()
        assert len(weights) == len(names), (layer_name, len(weights), names)
        for name, value in zip(names, weights):
            values[f"{scope}/{name}"] = np.asarray(value, np.float32)
    return values


def randomise(detector, seed: int = 1) -> None:
    """He-normal kernels, random biases and batch-norm statistics, sharpened class logits: detections
    that spread over scores and boxes, so agreement is not trivial (every score at the prior)."""
    rng = np.random.default_rng(seed)
    for layer in detector.network.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if layer.name.endswith("_BatchNorm"):
            c = weights[0].shape[0]
            layer.set_weights([rng.uniform(0.8, 1.2, c), rng.normal(0, 0.1, c), rng.normal(0, 0.1, c),
                               rng.uniform(0.8, 1.2, c)])
            continue
        kernel = weights[0]
        fan_in = int(np.prod(kernel.shape[:2])) if "depthwise" in layer.name else int(np.prod(kernel.shape[:-1]))
        new = [rng.normal(0.0, np.sqrt(2.0 / fan_in), kernel.shape)]
        if layer.name.endswith("ClassPredictor"):
            new = [new[0] * 2.0]  # top scores spread over ~0.8-0.9 on photos instead of all near 1
        elif layer.name.endswith("BoxEncodingPredictor"):
            new = [new[0] * 0.3]  # moderate box codes: boxes move, none explodes
        new += [rng.normal(0, 0.1, w.shape) for w in weights[1:]]
        layer.set_weights([w.astype(np.float32) for w in new])


def write_tf1_checkpoint(folder: Path, variables: dict[str, np.ndarray], step: int, *, slots: bool = True,
                         ema: dict[str, np.ndarray] | None = None, extra: dict[str, np.ndarray] | None = None) -> Path:
    """``folder/model.ckpt-STEP.{index,data-00000-of-00001,meta}`` and ``folder/checkpoint``, by tf.compat.v1.

    ``slots`` adds ``/RMSProp`` and ``/RMSProp_1`` for the trainable variables (not the batch-norm
    statistics), ``ema`` the ``/ExponentialMovingAverage`` values given, ``extra`` more variables.
    """
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    everything: dict[str, np.ndarray] = dict(variables)
    rng = np.random.default_rng(7)
    if slots:
        for name, value in variables.items():
            if not name.endswith(("moving_mean", "moving_variance")):
                everything[f"{name}/RMSProp"] = rng.uniform(0, 1, value.shape).astype(np.float32)
                everything[f"{name}/RMSProp_1"] = rng.normal(0, 1, value.shape).astype(np.float32)
    for name, value in (ema or {}).items():
        everything[f"{name}/ExponentialMovingAverage"] = value
    everything.update(extra or {})
    with tf.Graph().as_default():
        var_list = {name: tf.compat.v1.Variable(value, name=name.replace("/", "__"))
                    for name, value in everything.items()}
        var_list["global_step"] = tf.compat.v1.Variable(np.int64(step), name="global_step")
        saver = tf.compat.v1.train.Saver(var_list=var_list)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            prefix = saver.save(sess, str(folder / "model.ckpt"), global_step=step)
    return Path(prefix)


def write_odapi_run(folder: Path, detector, step: int, text: str, **kwargs) -> Path:
    """An OD API training folder: ``pipeline.config`` + the detector's checkpoint at ``step``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipeline.config").write_text(text)
    return write_tf1_checkpoint(folder, odapi_variables(detector), step, **kwargs)



def stage_arrays(folder: Path, like) -> dict[str, np.ndarray]:
    """A stage's compact weights read straight from its checkpoint, under the OD API names of ``like``
    (a detector of the same config): no second network is built."""
    import tensorflow as tf

    from facessd_archive.model.checkpoint import _stored_key
    from facessd_archive.odapi.tf1_checkpoint import variable_map

    reader = tf.train.load_checkpoint(str(Path(folder) / "weights"))
    return {name: reader.get_tensor(_stored_key(var.path)) for name, var in variable_map(like).items()}
