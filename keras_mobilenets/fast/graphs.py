"""A plan replayed as a CUDA graph on a GPU: one launch per call instead of
one per PyTorch kernel.

A MobileNet at batch 32 is a few hundred small kernels; on a GPU the
Python that launches them, not the kernels, sets the pace (docs/speed.md).
A CUDA graph records those launches once
per input shape and replays them (`torch.cuda.CUDAGraph`). A shape is
captured on its second call (a one-off shape, such as `predict`'s last
partial batch, runs eagerly), at most `MAX_SHAPES` shapes per model are
kept, and a graph is recaptured when any variable was written since
(a tensor's version counter, as `plan` checks) or a layer changed how it
computes (dtype policy, LoRA). Anything a graph cannot do (capture
fails, inference tensors that count no versions) runs the eager plan: the
same numbers, only slower.
"""

import collections
import warnings

import keras

from .steps import Stale

ENABLED = True  # set False to run plans eagerly on GPUs too
MAX_SHAPES = 4


class Graphs:
    """The CUDA graphs of one plan, by input shape."""

    def __init__(self, plan):
        self.plan = plan
        self.graphs = collections.OrderedDict()  # key -> (graph, in, out)
        self.seen = set()
        self.stamp = None
        self.off = False
        self.variables = list(plan.model.weights)
        self.layers = list(plan.model._flatten_layers(include_self=False))

    def _stamp(self):
        """What the recorded kernels read and the graph cannot see change:
        each variable's storage and version, each layer's way of computing."""
        try:
            values = tuple((v.value.data_ptr(), v.value._version)
                           for v in self.variables)
        except RuntimeError:  # inference tensors count no versions
            return None
        return values, tuple((id(layer.dtype_policy),
                              getattr(layer, "lora_enabled", False))
                             for layer in self.layers)

    def __call__(self, inputs):
        """The plan's outputs for `inputs` (a CUDA tensor)."""
        if self.off or not ENABLED:
            return self.plan.run(inputs)
        stamp = self._stamp()
        if stamp is None:
            return self.plan.run(inputs)
        if stamp != self.stamp:
            self.graphs.clear()
            self.stamp = stamp
        key = (tuple(inputs.shape), inputs.device, inputs.stride())
        entry = self.graphs.get(key)
        if entry is None:
            if key not in self.seen:
                self.seen.add(key)
                return self.plan.run(inputs)
            entry = self._capture(inputs)
            if entry is None:
                return self.plan.run(inputs)
            self.graphs[key] = entry
            while len(self.graphs) > MAX_SHAPES:
                self.graphs.popitem(last=False)
        self.graphs.move_to_end(key)
        graph, static_in, static_out = entry
        static_in.copy_(inputs)
        graph.replay()
        return keras.tree.map_structure(lambda t: t.clone(), static_out)

    def _capture(self, inputs):
        import torch

        static_in = inputs.clone()
        try:
            # Warm up on a side stream (cuDNN picks its algorithms, the
            # folded kernels are made), as torch.cuda.graphs asks.
            stream = torch.cuda.Stream(inputs.device)
            stream.wait_stream(torch.cuda.current_stream(inputs.device))
            with torch.cuda.stream(stream):
                for _ in range(2):
                    self.plan.run(static_in)
            torch.cuda.current_stream(inputs.device).wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self.plan.run(static_in)
        except Exception as error:  # noqa: BLE001  (any failure: run eagerly)
            if isinstance(error, Stale):
                raise
            self.off = True
            warnings.warn(f"keras_mobilenets: CUDA graph capture of "
                          f"{self.plan.model.name!r} failed ({error!r}); its "
                          "inference runs the eager plan.", stacklevel=3)
            return None
        return graph, static_in, static_out
