"""The SSD-MobileNetV1 detector: config, network, anchors, targets, losses, post-processing."""
