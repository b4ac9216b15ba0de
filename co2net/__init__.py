"""co2net: CO2-Net (cross-modal consensus network, ACM MM 2021) for weakly supervised temporal action
localization, built up one notebook at a time in PyTorch.

The path from I3D features to detections is available at top level:

    import co2net, numpy as np
    model = co2net.load_official_checkpoint(co2net.CO2Net(n_classes=20), 'CO2_3552.pkl')
    dets = co2net.predict_videos(model, [('highjump', np.load('data_samples/i3d_real/highjump.npy'))])
    co2net.write_results_json(dets, co2net.THUMOS14_CLASSES, 'detections.json')   # seconds, ActivityNet JSON

Each name comes from the module that defines it (co2net.data, .model, .localize, .evaluate, .config,
.predict, .runs, .cli); no top-level name hides a submodule (training is `co2net.train.train`). The optional parts
(co2net.features, co2net.sweep) are imported only when used.
"""
__version__ = "0.2.0"

from .data import THUMOS14_CLASSES, load_annotations, load_dataset, check_feature_array
from .model import CO2Net, load_official_checkpoint
from .localize import localize_videos, detections_to_seconds, write_results_json, read_results_json
from .evaluate import DetectionResult, evaluate_detections, evaluate_protocol
from .config import Config, get_config, model_from_config
from .runs import load_checkpoint
from .predict import predict_videos
from .cli import model_from_checkpoint

__all__ = ['THUMOS14_CLASSES', 'load_annotations', 'load_dataset', 'check_feature_array', 'CO2Net',
           'load_official_checkpoint', 'localize_videos', 'detections_to_seconds', 'write_results_json',
           'read_results_json', 'DetectionResult', 'evaluate_detections', 'evaluate_protocol', 'Config', 'get_config',
           'load_checkpoint', 'model_from_config', 'predict_videos', 'model_from_checkpoint']
