"""The command line starts quietly: TensorFlow's and absl's start-up lines
(oneDNN's notice, absl's "log messages before InitializeLog") are kept out
of `keras-mobilenets`' output unless asked for (`--verbose`, or
KERAS_MOBILENETS_VERBOSE=1). Imported first by the package, it acts only
when the program running is the `keras-mobilenets` command."""

import os
import sys

VERBOSE = "KERAS_MOBILENETS_VERBOSE"


def quiet_for_command_line():
    argv = sys.argv or [""]
    if os.path.basename(argv[0] or "") != "keras-mobilenets" \
            or os.environ.get(VERBOSE) == "1" or "--verbose" in argv:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    # Some lines are written by TensorFlow's C++ code before absl's logging
    # starts, whatever TF_CPP_MIN_LOG_LEVEL says: stderr is closed while
    # TensorFlow loads (`train` uses tf.data on every backend).
    if backend != "tensorflow" and "train" not in argv[1:]:
        return
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
    try:
        from absl import logging

        logging.set_verbosity(logging.ERROR)
    except ImportError:
        pass


quiet_for_command_line()
