"""Prints the parity table of timm's V1-V3 networks on the active Keras
backend: for each fixture of tests/fixtures/timm_v1_v3, our float32 model
built as tests/test_timm_v1_v3.py builds it (`tests/timm_v1_v3_reference
.parity`) against timm's float64 logits, as a Markdown table: the worst
|ours - timm float64| logit difference, timm's own float32 error, the bar
(twice that, plus 1e-6 of the largest logit) and pass/fail (also the
trainable parameter count and a non-constant model). A maintainer tool:
needs this package and its test requirements, not timm.

    KERAS_BACKEND=jax PYTHONPATH=$PWD python fixture_scripts/timm_v1_v3_parity_table.py [arch ...]

Exits 1 when a row fails.
"""

import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import keras  # noqa: E402

from timm_v1_v3_reference import ARCHS, parity  # noqa: E402


def main(archs):
    unknown = sorted(set(archs) - set(ARCHS))
    if unknown:
        sys.exit(f"no fixture for {unknown}; there are: {', '.join(ARCHS)}")
    print(f"timm V1-V3 parity on {keras.backend.backend()} "
          f"(Keras {keras.__version__})\n")
    print("| architecture | worst \\|ours - timm float64\\| | timm float32 "
          "error | bar | pass |")
    print("|---|---:|---:|---:|---|")
    failed = []
    with tempfile.TemporaryDirectory() as folder:
        for arch in archs or ARCHS:
            got = parity(arch, folder)
            verdict = "pass" if got.passed else "FAIL"
            if not got.passed:
                failed.append(arch)
                if got.trainable != got.timm_trainable:
                    verdict += (f" (parameters {got.trainable:,}, timm's "
                                f"{got.timm_trainable:,})")
            print(f"| `{arch}` | {got.worst:.3g} | {got.float32_error:.3g} "
                  f"| {got.bar:.3g} | {verdict} |", flush=True)
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
