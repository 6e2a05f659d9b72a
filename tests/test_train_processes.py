"""`train` as a job of several processes: two processes on this machine
(JAX, tests/train_processes.py) train one model, process 0 alone writing
the output folder; the job's bad arguments and the backends without it
fail before anything starts."""

import json
import os
import socket
import subprocess
import sys

import keras
import pytest

import keras_mobilenets as km
from conftest import ROOT
from keras_mobilenets import cli
from keras_mobilenets.training import cluster
from test_train import TINY, make_folder


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="a job of several processes runs on JAX; the "
                    "other backends' refusal is tested below")
def test_two_processes_train_one_model_and_process_0_writes(tmp_path):
    make_folder(tmp_path / "data")
    port = str(_free_port())
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3",
               JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join(
                   [ROOT, os.path.join(ROOT, "tests")]
                   + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    for name in cluster.ENVIRONMENT.values():
        env.pop(name, None)
    script = os.path.join(ROOT, "tests", "train_processes.py")
    children = [subprocess.Popen(
        [sys.executable, script, str(tmp_path), port, str(index)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for index in (0, 1)]
    results = []
    for child in children:
        try:
            out, err = child.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for c in children:
                c.kill()
            raise
        assert child.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    first, second = results
    assert [r["process"] for r in results] == [0, 1]
    assert first["processes"] == second["processes"] == 2
    # The variables live on both processes' devices, one each.
    assert first["devices"] == second["devices"] == 2
    # 15 training images, global batch 4: 3 steps, 2 images a process each.
    assert first["steps"] == second["steps"] == 3
    assert first["epochs"] == second["epochs"] == 1
    assert first["val_accuracy"] == second["val_accuracy"]
    assert first["weights"] == second["weights"]
    assert sorted(os.listdir(tmp_path)) == ["data", "out-0"]
    assert sorted(os.listdir(tmp_path / "out-0")) == sorted(
        ["model.keras", "labels.txt", "history.csv", "report.md",
         "confusion.png", "curves.png", "errors.png"])
    assert "| num_processes | 2 |" in (tmp_path / "out-0" /
                                      "report.md").read_text()


def test_the_job_arguments_are_checked(monkeypatch):
    for name in cluster.ENVIRONMENT.values():
        monkeypatch.delenv(name, raising=False)
    assert cluster.job() is None
    assert cluster.job(num_processes=1) is None
    if keras.backend.backend() == "jax":
        assert cluster.job("10.0.0.1:1234", 2, 1) == ("10.0.0.1:1234", 2, 1)
        monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "h:1")
        monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "4")
        monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "3")
        assert cluster.job() == ("h:1", 4, 3)
        assert cluster.job(process_id=0) == ("h:1", 4, 0)  # arguments first
        monkeypatch.delenv("KERAS_DISTRIBUTION_JOB_ADDRESSES")
    with pytest.raises(ValueError, match=r"in \[0, 2\).*process_id=2"):
        cluster.job("h:1", 2, 2)
    with pytest.raises(ValueError, match="positive int.*num_processes=0"):
        cluster.job("h:1", 0, 0)
    with pytest.raises(ValueError, match="needs `job_addresses`"):
        cluster.job(None, 2, 0)


def test_the_command_takes_the_job_flags(tmp_path, capsys):
    data = make_folder(tmp_path / "data")
    assert cli.main(["train", str(data), "--output", str(tmp_path / "out"),
                     "--job-addresses", "127.0.0.1:1", "--num-processes",
                     "2", "--process-id", "2"]) == 1
    assert "process_id=2" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_job_fails_before_training_where_it_cannot_run(tmp_path,
                                                         monkeypatch):
    """PyTorch and TensorFlow: refused, saying why; JAX: --qat refused."""
    def no_fit(*args, **kwargs):
        pytest.fail("training started")

    monkeypatch.setattr(keras.Model, "fit", no_fit)
    data = make_folder(tmp_path / "data")
    backend = keras.backend.backend()
    match = {"torch": "runs on JAX.*no PyTorch implementation.*"
                      "KERAS_BACKEND=torch, num_processes=2",
             "tensorflow": "runs on JAX.*MultiWorkerMirroredStrategy.*"
                           "keras-team/keras#20585",
             "jax": "--qat trains in one process"}[backend]
    with pytest.raises(ValueError, match=match):
        km.train(str(data), output=str(tmp_path / "out"),
                 job_addresses="127.0.0.1:1", num_processes=2, process_id=1,
                 **({"export": "litert", "qat": True} if backend == "jax"
                    else {}), **TINY)
    assert not (tmp_path / "out").exists()
