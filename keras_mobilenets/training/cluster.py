"""`train` as a job of several processes (one a machine, or several on one):
joined with `keras.distribution.initialize`, which on JAX is
`jax.distributed.initialize`; process 0 writes the output folder."""

import contextlib
import os

import keras

ENVIRONMENT = {"job_addresses": "KERAS_DISTRIBUTION_JOB_ADDRESSES",
               "num_processes": "KERAS_DISTRIBUTION_NUM_PROCESSES",
               "process_id": "KERAS_DISTRIBUTION_PROCESS_ID"}
# keras-team/keras#20585: Keras 3's fit fails under TensorFlow's
# MultiWorkerMirroredStrategy (strategy.reduce of a PerReplica batch while
# the model is built), as tensorflow/tensorflow#72388 reported.
TENSORFLOW = ("Keras 3's fit does not run under TensorFlow's "
              "MultiWorkerMirroredStrategy (keras-team/keras#20585)")
_joined = None  # the job this process joined: a process joins one


def job(job_addresses=None, num_processes=None, process_id=None):
    """(job_addresses, num_processes, process_id) of a job of several
    processes, from the arguments, else from Keras' environment variables
    (KERAS_DISTRIBUTION_JOB_ADDRESSES, _NUM_PROCESSES, _PROCESS_ID); None
    for one process."""
    given = {"job_addresses": job_addresses, "num_processes": num_processes,
             "process_id": process_id}
    for name, variable in ENVIRONMENT.items():
        if given[name] is None and os.environ.get(variable):
            value = os.environ[variable]
            try:
                given[name] = value if name == "job_addresses" else int(value)
            except ValueError:
                raise ValueError(f"{variable} must be an int. Received: "
                                 f"{variable}={value!r}") from None
    count, index = given["num_processes"], given["process_id"]
    if count is None and index is None and given["job_addresses"] is None:
        return None
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError("`num_processes` must be a positive int. Received: "
                         f"num_processes={count!r}")
    if count == 1 and index in (None, 0):
        return None
    if isinstance(index, bool) or not isinstance(index, int) \
            or not 0 <= index < count:
        raise ValueError(f"`process_id` must be an int in [0, {count}) "
                         f"in a job of {count} processes. Received: "
                         f"process_id={index!r}")
    addresses = given["job_addresses"]
    if not isinstance(addresses, str) or not addresses.strip():
        raise ValueError(
            "A job of several processes needs `job_addresses`: HOST:PORT of "
            "process 0 (the coordinator), or every process's, comma "
            f"separated. Received: job_addresses={addresses!r}")
    backend = keras.backend.backend()
    if backend != "jax":
        raise ValueError(
            "A job of several processes runs on JAX (keras.distribution."
            "initialize, jax.distributed); "
            + (TENSORFLOW if backend == "tensorflow" else
               "keras.distribution has no PyTorch implementation")
            + f". Received: KERAS_BACKEND={backend}, num_processes={count}")
    return addresses, count, index


def join(spec):
    """Joins the job `spec` (from `job`), once a process: before JAX runs
    anything, `jax.distributed` connects the processes; each sees then
    every process's devices."""
    global _joined
    if spec is None or spec == _joined:
        return
    if _joined is not None:
        raise ValueError(f"This process joined the job {_joined} already; a "
                         f"process joins one. Received: {spec}")
    keras.distribution.initialize(*spec)
    _joined = spec


def is_chief(spec):
    """Whether this process writes the output folder: process 0 of a job,
    or the only one."""
    return spec is None or spec[2] == 0


@contextlib.contextmanager
def local():
    """No distribution while one process alone saves or predicts: under a
    distribution, a new variable (the optimizer `model.save` makes to list
    its attributes) is placed on every process's devices, which waits for
    the other processes."""
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)
