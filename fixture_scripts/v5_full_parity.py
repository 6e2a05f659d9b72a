"""Not a fixture: our real MobileNetV5 (294M parameters) against timm's, with
the files `make_v5_fixtures.py --full` wrote (timm's weights from the seed
of `tests/v5_reference.py`, its float32 and float64 outputs). Prints the
worst |ours - timm float64| beside timm's own float32 error, and the time
of our forward pass (batch 1). Too slow and too large for the tests.

    KERAS_BACKEND=torch PYTHONPATH=$PWD:$PWD/tests python \\
        fixture_scripts/v5_full_parity.py mobilenetv5_300m_enc FOLDER SIZE
"""

import os
import sys
import time

import keras
import numpy as np

from keras_mobilenets.archs import mobilenet_v5 as v5

BUILDERS = {e.timm_name: e.builder for e in v5.ENTRIES.values()}


def main(name, folder, size):
    with np.load(os.path.join(folder, f"{name}_{size}.npz")) as z:
        fx = {k: z[k] for k in z.files}
    from v4_reference import reference_input

    x = reference_input(tuple(int(s) for s in fx["input_shape"]), 0)
    start = time.perf_counter()
    model = BUILDERS[name](
        weights=os.path.join(folder, f"{name}.safetensors"),
        input_shape=(size, size, 3), include_top=False,
        pooling="avg" if fx["out64"].ndim == 2 else None,
        include_preprocessing=False)
    built = time.perf_counter() - start
    times = []
    for _ in range(2):
        start = time.perf_counter()
        ours = keras.ops.convert_to_numpy(model(x, training=False))
        times.append(time.perf_counter() - start)
    worst = float(np.abs(ours.astype(np.float64) - fx["out64"]).max())
    error = float(fx["float32_error"])
    print(f"{name} at {size}x{size} on {keras.backend.backend()}: output "
          f"{ours.shape}, max |ours - timm float64| {worst:.3g}, timm's "
          f"float32 error {error:.3g}, ratio {worst / error:.2f}; "
          f"build + load {built:.1f} s, forward {min(times):.2f} s "
          f"(first {times[0]:.2f} s)")
    return worst <= 2 * error + 1e-6 * float(np.abs(fx["out64"]).max())


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1], sys.argv[2], int(sys.argv[3])) else 1)
