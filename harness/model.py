"""Cao's model in Keras and its export into stage files (``.npz``) for node_app.

The model: ``Input(100) -> Dense(2000, relu, "L1") -> Dense(2000, linear, "L2")``, float32,
weights drawn with a fixed seed. Stages (see docs/architecture.md, "Stage files"):

| stage  | layers   | used by |
|--------|----------|---------|
| `L1`   | L1       | the first device of the pipeline |
| `L2`   | L2       | the second device |
| `L1L2` | L1, L2   | whole-model strategies (Cao 1-3) |
| `L2_s<i>of<K>` | output columns [i*2000//K, (i+1)*2000//K) of L2 | model parallelism (`mp`) |

The slices cut L2's kernel and bias by output neuron, K in SLICE_COUNTS, with the bounds of
node_app.stage.block_bounds (the rule the merging sink uses), so concatenating the K slices'
outputs in index order gives L2's output exactly; each holds ~1/K of L2's weights.

Stage file layout: ``kernel_<i>`` (float32, shape ``(in, out)``), ``bias_<i>`` (float32),
``activation_<i>`` (0-d str array, ``"relu"`` or ``"linear"``). Files are written
byte-for-byte deterministically (fixed zip timestamps), and a ``manifest.json`` records the
seed, the versions and each file's sha256.

CLI::

    python -m harness.model export --out build/stages [--seed 2019] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np

# Quiet TensorFlow. TF 2.21 prints its oneDNN notice whatever TF_CPP_MIN_LOG_LEVEL says; with
# oneDNN's custom ops off it stays silent and predict() uses TF's plain float32 kernels.
# Both must be set before TensorFlow is first imported; the caller's environment wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

DEFAULT_SEED = 2019
INPUT_SIZE = 100
HIDDEN = 2000
# (name, units, activation) in order
LAYERS: list[tuple[str, int, str]] = [("L1", HIDDEN, "relu"), ("L2", HIDDEN, "linear")]
# stage name -> layer names, in order
STAGES: dict[str, list[str]] = {"L1": ["L1"], "L2": ["L2"], "L1L2": ["L1", "L2"]}
SLICE_COUNTS = (1, 2, 3, 4)  # K of the model-parallel slices of L2 that are exported
SLICED_LAYER = "L2"


def slice_name(index: int, count: int) -> str:
    return f"{SLICED_LAYER}_s{index}of{count}"


# slice stage name -> (index, count)
SLICES: dict[str, tuple[int, int]] = {
    slice_name(i, k): (i, k) for k in SLICE_COUNTS for i in range(k)
}
for _name in SLICES:
    STAGES[_name] = [SLICED_LAYER]
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamp: same bytes for the same weights

_models: dict[int, object] = {}


# --------------------------------------------------------------------------- Keras side
def build_model(seed: int = DEFAULT_SEED):
    """Build the Keras model with weights drawn from ``seed`` (a fresh model each call).

    seed: the weight seed (``keras.utils.set_random_seed``).
    """
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(INPUT_SIZE,), dtype="float32", name="frame")
    x = inp
    for name, units, activation in LAYERS:
        x = keras.layers.Dense(units, activation=activation, name=name, dtype="float32")(x)
    return keras.Model(inp, x, name=f"cao2019_s{seed}")


def _model(seed: int):
    """Return the cached model for ``seed``."""
    if seed not in _models:
        _models[seed] = build_model(seed)
    return _models[seed]


def predict(inputs, seed: int = DEFAULT_SEED) -> np.ndarray:
    """The reference output: the Keras model's own ``model.predict`` (float32).

    inputs: one frame ``(100,)`` or a batch ``(n, 100)``.
    seed: the weight seed.
    """
    x = np.asarray(inputs, dtype=np.float32)
    single = x.ndim == 1
    if single:
        x = x[None, :]
    y = np.asarray(_model(seed).predict(x, verbose=0), dtype=np.float32)
    return y[0] if single else y


def layer_weights(seed: int = DEFAULT_SEED) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """Return ``{layer name: (kernel, bias, activation)}`` of the model for ``seed``."""
    model = _model(seed)
    out = {}
    for name, _units, activation in LAYERS:
        kernel, bias = model.get_layer(name).get_weights()
        out[name] = (kernel.astype(np.float32), bias.astype(np.float32), activation)
    return out


# --------------------------------------------------------------------------- stage files
def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Serialise arrays as an .npz (uncompressed zip) with fixed timestamps, in key order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)
    return buf.getvalue()


def stage_arrays(stage: str, weights) -> dict[str, np.ndarray]:
    """Return the arrays of one stage file (``kernel_i``, ``bias_i``, ``activation_i``)."""
    arrays: dict[str, np.ndarray] = {}
    for i, layer in enumerate(STAGES[stage]):
        kernel, bias, activation = weights[layer]
        if stage in SLICES:
            lo, hi = _columns(stage, kernel.shape[1])
            kernel, bias = kernel[:, lo:hi], bias[lo:hi]
        arrays[f"kernel_{i}"] = np.ascontiguousarray(kernel, dtype=np.float32)
        arrays[f"bias_{i}"] = np.ascontiguousarray(bias, dtype=np.float32)
        arrays[f"activation_{i}"] = np.array(activation)
    return arrays


def _columns(stage: str, width: int) -> tuple[int, int]:
    from node_app.stage import block_bounds  # node_app is stdlib + numpy: cheap to import

    index, count = SLICES[stage]
    return block_bounds(index, count, width)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def versions() -> dict[str, str | None]:
    """Versions that determine the exported weights (read without importing TensorFlow)."""
    return {
        "keras": _dist_version("keras"),
        "tensorflow": _dist_version("tensorflow-cpu", "tensorflow"),
        "numpy": np.__version__,
    }


def _manifest_head(seed: int) -> dict:
    return {"format": FORMAT_VERSION, "model": "cao2019", "seed": seed,
            "input_size": INPUT_SIZE, "versions": versions()}


def _stage_layers(stage: str) -> list[dict]:
    sizes = {}
    width = INPUT_SIZE
    for name, units, activation in LAYERS:
        sizes[name] = {"name": name, "in": width, "out": units, "activation": activation}
        width = units
    layers = [dict(sizes[layer]) for layer in STAGES[stage]]
    if stage in SLICES:
        lo, hi = _columns(stage, layers[0]["out"])
        layers[0].update(out=hi - lo, columns=[lo, hi])
    return layers


def manifest_is_current(out_dir: Path, seed: int = DEFAULT_SEED) -> bool:
    """True if ``out_dir`` holds a manifest for ``seed`` (same versions) and every file
    it lists is there with the recorded sha256."""
    path = Path(out_dir) / MANIFEST
    try:
        man = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    head = _manifest_head(seed)
    if any(man.get(k) != v for k, v in head.items()):
        return False
    stages = man.get("stages", {})
    if set(stages) != set(STAGES):
        return False
    for name, entry in stages.items():
        f = Path(out_dir) / entry.get("file", "")
        if entry.get("layers") != _stage_layers(name) or not f.is_file():
            return False
        if _sha256(f) != entry.get("sha256"):
            return False
    return True


def export_stages(out_dir, seed: int = DEFAULT_SEED, force: bool = False) -> dict[str, Path]:
    """Write ``L1.npz``, ``L2.npz``, ``L1L2.npz``, the slices ``L2_s<i>of<K>.npz`` and
    ``manifest.json`` into ``out_dir``.

    out_dir: target directory (created if missing).
    seed: the weight seed.
    force: rewrite even when the manifest already matches.
    Returns ``{stage name: path}`` (plus ``"manifest"``).
    """
    out = Path(out_dir)
    paths: dict[str, Path] = {name: out / f"{name}.npz" for name in STAGES}
    paths["manifest"] = out / MANIFEST
    if not force and manifest_is_current(out, seed):
        return paths
    out.mkdir(parents=True, exist_ok=True)
    weights = layer_weights(seed)
    man = _manifest_head(seed)
    man["stages"] = {}
    for name in STAGES:
        data = _npz_bytes(stage_arrays(name, weights))
        _write_atomic(paths[name], data)
        man["stages"][name] = {"file": paths[name].name, "layers": _stage_layers(name),
                               "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    _write_atomic(paths["manifest"], (json.dumps(man, indent=2, sort_keys=True) + "\n").encode())
    return paths


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- numpy side
_ACTIVATIONS = {
    "relu": lambda v: np.maximum(v, np.float32(0)),
    "linear": lambda v: v,
}


def load_stage(npz_path) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Return the layers ``[(kernel, bias, activation), ...]`` of a stage file."""
    layers = []
    with np.load(npz_path, allow_pickle=False) as z:
        i = 0
        while f"kernel_{i}" in z.files:
            layers.append((z[f"kernel_{i}"].astype(np.float32, copy=False),
                           z[f"bias_{i}"].astype(np.float32, copy=False),
                           str(z[f"activation_{i}"][()])))
            i += 1
    if not layers:
        raise ValueError(f"{npz_path}: no kernel_0 in stage file")
    return layers


def run_stage(npz_path, x) -> np.ndarray:
    """Apply a stage file to ``x`` in numpy (what node_app does): ``x = act(x @ W + b)``.

    npz_path: the stage file.
    x: one frame ``(in,)`` or a batch ``(n, in)``; cast to float32.
    """
    y = np.asarray(x, dtype=np.float32)
    for kernel, bias, activation in load_stage(npz_path):
        y = _ACTIVATIONS[activation](y @ kernel + bias).astype(np.float32, copy=False)
    return y


# --------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.model",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    exp = sub.add_parser("export", help="export the stage files and manifest.json")
    exp.add_argument("--out", required=True, type=Path, help="output directory")
    exp.add_argument("--seed", type=int, default=DEFAULT_SEED, help="weight seed (default 2019)")
    exp.add_argument("--force", action="store_true", help="rewrite even if up to date")
    args = parser.parse_args(argv)

    if args.cmd == "export":
        if not args.force and manifest_is_current(args.out, args.seed):
            print(f"up to date: {args.out / MANIFEST} (seed {args.seed}), nothing written")
            return 0
        paths = export_stages(args.out, args.seed, force=True)
        for name, path in paths.items():
            print(f"wrote {name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
