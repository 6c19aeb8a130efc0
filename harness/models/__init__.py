"""Models as data: each module here defines one Keras model and its cut points.

A model module has `NAME`, `DESCRIPTION`, `INPUT_SHAPE`, `STAGES` (stage name -> layer
names, in order), `PIPELINE` (the stages of a two-device layer pipeline, in order),
`WHOLE` (the whole-model stage), `SPLIT_STAGE` (a one-dense-layer stage that data and model
parallelism and task sharing spread over K devices; "" for a model without one),
`SLICE_COUNTS`, optionally `FUSED_STAGE` (a stage of conv and pool layers that FTP and BODP
partition) and `build(seed)`. Stage names are unique across models: one export directory
holds them all.
Everything else (layer shapes, MACs, weight bytes) is read off the Keras model by
`describe()`, never typed in, and cached as JSON under build/models/ so that a run does not
import TensorFlow to know a layer's size.

Adding a model: a module with those names, listed in `_MODULES`; `--model=NAME` then
offers it and `python -m harness.model export --model NAME` writes its stage files.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType

from harness.models import cao_dense, yolov2_16, yolov2_16_608
from harness.models.layers import Layer, layers_of
from node_app.stage import block_bounds  # the one split rule, shared with merge and tasks

_MODULES: tuple[ModuleType, ...] = (cao_dense, yolov2_16, yolov2_16_608)
MODELS: dict[str, ModuleType] = {m.NAME: m for m in _MODULES}
DEFAULT_MODEL = cao_dense.NAME
CACHE_DIR = Path(__file__).resolve().parents[2] / "build" / "models"
_TABLE_FORMAT = 1


class UnknownModel(ValueError):
    """A model name that is not registered; the message lists the choices."""


def names() -> list[str]:
    return list(MODELS)


def module(name: str) -> ModuleType:
    if name not in MODELS:
        raise UnknownModel(f"unknown model {name!r}; available: {', '.join(MODELS)}")
    return MODELS[name]


def slice_name(stage: str, index: int, count: int) -> str:
    """The stage file of output-neuron block `index` of `count` of a split stage."""
    return f"{stage}_s{index}of{count}"


@dataclass(frozen=True)
class ModelInfo:
    """One model as data: its layers (from Keras) and its cut points (from its module)."""

    name: str
    description: str
    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...]
    stages: dict[str, tuple[str, ...]]
    pipeline: tuple[str, ...]
    whole: str
    split_stage: str
    slice_counts: tuple[int, ...]
    fused_stage: str = ""

    @property
    def input_size(self) -> int:
        """Floats in one client frame."""
        return math.prod(self.input_shape)

    @property
    def output_size(self) -> int:
        return self.layers[-1].output_elements

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"model {self.name} has no layer {name!r}")

    @property
    def split_layer(self) -> Layer:
        """The one dense layer of the split stage (what dp, mp and tasks spread)."""
        if not self.split_stage:
            raise KeyError(f"model {self.name} has no split stage (a single dense layer) for "
                           "dp, mp or tasks")
        (name,) = self.stages[self.split_stage]
        return self.layer(name)

    @property
    def fused_layers(self) -> list[Layer]:
        """The conv and pool layers FTP and BODP partition, in order."""
        if not self.fused_stage:
            having = [n for n, m in MODELS.items() if getattr(m, "FUSED_STAGE", "")]
            raise KeyError(f"model {self.name} has no fused stage of conv layers for ftp or "
                           f"bodp; models with one: {', '.join(having)}")
        return [self.layer(n) for n in self.stages[self.fused_stage]]

    def slice_stage(self, index: int, count: int) -> str:
        return slice_name(self.split_stage, index, count)

    def slices(self) -> dict[str, tuple[int, int]]:
        """Every exported slice stage -> (index, count)."""
        return {self.slice_stage(i, k): (i, k) for k in self.slice_counts for i in range(k)}

    def stage_names(self) -> list[str]:
        """Every stage file the model exports: its cut points, then the slices."""
        return [*self.stages, *self.slices()]

    def stage_layers(self, stage: str) -> list[Layer]:
        """The layers a node running `stage` computes (a slice: its block of columns)."""
        if stage in self.stages:
            return [self.layer(n) for n in self.stages[stage]]
        sliced = self.slices()
        if stage not in sliced:
            raise KeyError(f"model {self.name} has no stage {stage!r}; stages: "
                           f"{', '.join(self.stage_names())}")
        return [self.block(*sliced[stage])]

    def block(self, index: int, count: int) -> Layer:
        """Block `index` of `count` of the split layer (a task of task sharing)."""
        layer = self.split_layer
        return layer.columns(*block_bounds(index, count, layer.output_shape[-1]))

    def stage_input_size(self, stage: str) -> int:
        return math.prod(self.stage_layers(stage)[0].input_shape)

    def stage_output_size(self, stage: str) -> int:
        return self.stage_layers(stage)[-1].output_elements

    def weights_bytes(self, stages: list[str]) -> int:
        """float32 bytes of weights a node holds for these stages."""
        return sum(layer.weight_bytes for s in stages for layer in self.stage_layers(s))


def _source_key(mod: ModuleType) -> str:
    """What the cached table depends on: the model's source and the Keras version."""
    src = inspect.getsource(mod) + inspect.getsource(layers_of)
    try:
        keras_version = metadata.version("keras")
    except metadata.PackageNotFoundError:
        keras_version = ""
    return hashlib.sha256(f"{_TABLE_FORMAT}|{keras_version}|{src}".encode()).hexdigest()


def _layer_table(mod: ModuleType) -> tuple[Layer, ...]:
    """The layer table from the cache, or from the Keras model (then cached)."""
    key = _source_key(mod)
    path = CACHE_DIR / f"{mod.NAME}.layers.json"
    try:
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return tuple(Layer.from_dict(d) for d in cached["layers"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    layers = layers_of(mod.build(0))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"model": mod.NAME, "key": key,
                               "layers": [layer.to_dict() for layer in layers]}, indent=1))
    tmp.replace(path)
    return layers


def describe(name: str = "") -> ModelInfo:
    """The named model as data (layers read off Keras, cut points from its module); ""
    (a spec or spec.json without a `model`, from before models were data) is the default."""
    return _describe(name or DEFAULT_MODEL)


@cache
def _describe(name: str) -> ModelInfo:
    mod = module(name)
    return ModelInfo(
        name=mod.NAME, description=mod.DESCRIPTION, input_shape=tuple(mod.INPUT_SHAPE),
        layers=_layer_table(mod), stages={k: tuple(v) for k, v in mod.STAGES.items()},
        pipeline=tuple(mod.PIPELINE), whole=mod.WHOLE, split_stage=mod.SPLIT_STAGE,
        slice_counts=tuple(mod.SLICE_COUNTS), fused_stage=getattr(mod, "FUSED_STAGE", ""),
    )
