"""The exported stage files compute what the Keras model computes, and export is deterministic."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import frames
from harness import model as hm
from harness.models import describe
from node_app.stage import block_bounds

MODEL = describe()  # the default model, Cao's two dense layers

REPO = Path(__file__).resolve().parents[1]
TOL = {"rtol": 1e-5, "atol": 1e-5}
PACKET_IDS = [0, 1, 2, 7, 42, 999]


@pytest.fixture(scope="module")
def stages(tmp_path_factory) -> dict[str, Path]:
    """Export once per module (importing TensorFlow and building the model costs seconds)."""
    return hm.export_stages(tmp_path_factory.mktemp("stages"), seed=hm.DEFAULT_SEED)


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    return frames.frames(PACKET_IDS, seed=3)


@pytest.fixture(scope="module")
def reference(batch) -> np.ndarray:
    return hm.predict(batch, seed=hm.DEFAULT_SEED)


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_frames_are_deterministic_float32():
    a = frames.frame(5, seed=1)
    assert a.dtype == np.float32 and a.shape == (100,)
    assert np.array_equal(a, frames.frame(5, seed=1))
    assert not np.array_equal(a, frames.frame(6, seed=1))
    assert not np.array_equal(a, frames.frame(5, seed=2))
    assert frames.frame_bytes(5, seed=1) == a.tobytes()
    assert len(frames.frame_bytes(5, seed=1)) == 400


def test_reference_shape(reference):
    assert reference.dtype == np.float32
    assert reference.shape == (len(PACKET_IDS), 2000)
    assert np.isfinite(reference).all() and np.abs(reference).max() > 0


def test_pipeline_l1_then_l2_equals_predict(stages, batch, reference):
    hidden = hm.run_stage(stages["L1"], batch)
    assert hidden.dtype == np.float32 and hidden.shape == (len(PACKET_IDS), 2000)
    assert (hidden >= 0).all()  # relu
    out = hm.run_stage(stages["L2"], hidden)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, reference, **TOL)


def test_whole_model_stage_equals_predict(stages, batch, reference):
    np.testing.assert_allclose(hm.run_stage(stages["L1L2"], batch), reference, **TOL)


def test_single_frames_one_by_one(stages, reference):
    """What a node does: one frame (1-D) at a time, as it arrives in a body."""
    for i, pid in enumerate(PACKET_IDS[:3]):
        x = np.frombuffer(frames.frame_bytes(pid, seed=3), dtype="<f4")
        y = hm.run_stage(stages["L2"], hm.run_stage(stages["L1"], x))
        assert y.shape == (2000,)
        np.testing.assert_allclose(y, reference[i], **TOL)
        np.testing.assert_allclose(hm.predict(x), reference[i], **TOL)


def test_stage_file_layout(stages):
    with np.load(stages["L1L2"], allow_pickle=False) as z:
        assert sorted(z.files) == sorted(
            ["kernel_0", "bias_0", "activation_0", "kernel_1", "bias_1", "activation_1"])
        assert z["kernel_0"].shape == (100, 2000) and z["kernel_0"].dtype == np.float32
        assert z["bias_0"].shape == (2000,) and z["bias_0"].dtype == np.float32
        assert z["kernel_1"].shape == (2000, 2000) and z["kernel_1"].dtype == np.float32
        assert z["activation_0"].shape == () and str(z["activation_0"]) == "relu"
        assert str(z["activation_1"]) == "linear"
    with np.load(stages["L2"], allow_pickle=False) as z:
        assert sorted(z.files) == ["activation_0", "bias_0", "kernel_0"]
        assert z["kernel_0"].shape == (2000, 2000) and str(z["activation_0"]) == "linear"
    # L1L2 holds exactly the weights of L1 and L2
    with np.load(stages["L1L2"]) as both, np.load(stages["L1"]) as l1, np.load(stages["L2"]) as l2:
        assert np.array_equal(both["kernel_0"], l1["kernel_0"])
        assert np.array_equal(both["kernel_1"], l2["kernel_0"])
        assert np.array_equal(both["bias_1"], l2["bias_0"])


def test_manifest(stages):
    man = json.loads(stages["manifest"].read_text())
    assert man["seed"] == 2019 and man["models"]["cao-dense"]["input_size"] == 100
    assert man["models"]["yolov2-16"]["input_shape"] == [160, 160, 3]
    assert man["versions"]["keras"] and man["versions"]["tensorflow"]
    assert set(man["stages"]) == {"L1", "L2", "L1L2", *MODEL.slices(), "yolo160", "yolo608"}
    assert man["stages"]["L1"]["layers"] == [
        {"name": "L1", "kind": "dense", "in": [100], "out": [2000], "activation": "relu"}]
    assert man["stages"]["L2"]["layers"] == [
        {"name": "L2", "kind": "dense", "in": [2000], "out": [2000], "activation": "linear"}]
    assert man["stages"]["yolo160"]["model"] == "yolov2-16"
    assert [la["kind"] for la in man["stages"]["yolo160"]["layers"]].count("conv") == 12
    assert [la["name"] for la in man["stages"]["L1L2"]["layers"]] == ["L1", "L2"]
    for name, entry in man["stages"].items():
        assert entry["file"] == f"{name}.npz"
        assert entry["sha256"] == _sha(stages[name])


def test_export_twice_gives_identical_bytes(stages, tmp_path):
    again = hm.export_stages(tmp_path / "again", seed=hm.DEFAULT_SEED, force=True)
    for name in ("L1", "L2", "L1L2", "manifest"):
        assert _sha(again[name]) == _sha(stages[name]), name


def test_other_seed_gives_other_weights(stages, tmp_path):
    other = hm.export_stages(tmp_path / "s7", seed=7)
    assert _sha(other["L1"]) != _sha(stages["L1"])
    assert json.loads(other["manifest"].read_text())["seed"] == 7


def test_export_is_idempotent(stages):
    before = {k: p.stat().st_mtime_ns for k, p in stages.items()}
    assert hm.manifest_is_current(stages["manifest"].parent)
    hm.export_stages(stages["manifest"].parent)
    assert before == {k: p.stat().st_mtime_ns for k, p in stages.items()}


def test_manifest_detects_tampering(tmp_path, stages):
    d = tmp_path / "copy"
    d.mkdir()
    for p in stages.values():
        (d / p.name).write_bytes(p.read_bytes())
    assert hm.manifest_is_current(d)
    assert not hm.manifest_is_current(d, seed=1)
    (d / "L2.npz").write_bytes(b"broken")
    assert not hm.manifest_is_current(d)


def test_cli_export_skips_when_current(stages):
    out = stages["manifest"].parent
    res = subprocess.run([sys.executable, "-m", "harness.model", "export", "--out", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    assert "up to date" in res.stdout


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
def test_slices_concatenate_to_l2(stages, batch, reference, k):
    """mp: the K slices' outputs, concatenated in index order, are L2's output (and predict's),
    for every K the model exports (1..6: the scaling sweep's K; 3, 5 and 6 leave 2000 / K
    uneven, so slices differ by one column as node_app.stage.block_bounds cuts them)."""
    hidden = hm.run_stage(stages["L1"], batch)
    parts = [hm.run_stage(stages[MODEL.slice_stage(i, k)], hidden) for i in range(k)]
    assert sum(p.shape[1] for p in parts) == 2000
    whole = np.concatenate(parts, axis=1)
    np.testing.assert_array_equal(whole, hm.run_stage(stages["L2"], hidden))
    np.testing.assert_allclose(whole, reference, **TOL)
    man = json.loads(stages["manifest"].read_text())
    sizes = [man["stages"][MODEL.slice_stage(i, k)]["layers"][0]["out"] for i in range(k)]
    bounds = [block_bounds(i, k, 2000) for i in range(k)]
    assert sizes == [[hi - lo] for lo, hi in bounds]
    assert k in MODEL.slice_counts
    with np.load(stages[MODEL.slice_stage(0, k)]) as z:
        assert z["kernel_0"].shape == (2000, 2000 // k)  # each device holds only its slice


def test_slice_export_is_deterministic(stages, tmp_path):
    again = hm.export_stages(tmp_path / "again", seed=hm.DEFAULT_SEED, force=True)
    for name in MODEL.slices():
        assert _sha(again[name]) == _sha(stages[name]), name


def test_layer_table_is_read_off_the_keras_model():
    """Sizes are never typed: the table equals what Keras itself counts."""
    keras_model = hm.build_model(seed=0)
    assert [la.name for la in MODEL.layers] == ["L1", "L2"]
    assert sum(la.weight_bytes for la in MODEL.layers) == keras_model.count_params() * 4
    l1, l2 = MODEL.layers
    assert (l1.kind, l1.input_shape, l1.output_shape, l1.macs, l1.activation) == (
        "dense", (100,), (2000,), 100 * 2000, "relu")
    assert (l2.macs, l2.weight_bytes, l2.activation) == (2000 * 2000, (2000 * 2000 + 2000) * 4,
                                                         "linear")
    assert MODEL.weights_bytes([MODEL.slice_stage(1, 3)]) == (2000 * 667 + 667) * 4


def test_unknown_model_names_the_choices():
    from harness.models import UnknownModel

    with pytest.raises(UnknownModel, match="cao-dense"):
        describe("resnet-9000")
    from harness.spec import RunSpec, SpecError

    with pytest.raises(SpecError, match="model.*resnet-9000.*available: cao-dense"):
        RunSpec(model="resnet-9000")
