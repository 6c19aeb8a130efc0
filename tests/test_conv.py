"""Conv models on the nodes: numpy layers, FTP tiles and BODP bands equal Keras' predict.

DeepThings' Fused Tile Partitioning and MoDNN's biased one-dimensional partition are only
worth measuring if the partitioned result is the model's result: every grid and every band
split is checked against the Keras model's own `predict` here, with node_app's code.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import model as hm
from harness.models import describe
from node_app.conv import ConvLayer, PoolLayer, run_region
from node_app.profile import Profile, ProfileError, load_profile
from node_app.stage import Pipeline, StageError, load_stage, map_cost, stack_costs
from node_app.tiles import Region, biased_rows, bounds, checkerboard, grid, walk_back

MODEL = "yolov2-16"
TOL = {"rtol": 1e-4, "atol": 1e-4}


@pytest.fixture(scope="module")
def yolo(tmp_path_factory):
    paths = hm.export_stages(tmp_path_factory.mktemp("stages"))
    info = describe(MODEL)
    stage = load_stage(paths[info.whole])
    x = np.random.default_rng(12).standard_normal(info.input_shape).astype(np.float32)
    return info, stage, x, hm.predict(x, model=MODEL)


def test_whole_frame_equals_keras(yolo):
    info, stage, x, ref = yolo
    assert stage.n_in == info.input_size and stage.n_out == info.output_size
    np.testing.assert_allclose(stage(x.reshape(-1)), ref, **TOL)


def ftp(stage, x, n, m, fused):
    """Every tile of an n x m grid over layer `fused`'s output, computed alone from its own
    input region (overlap included), then merged."""
    layers = stage.layers[:fused]
    out_hw = layers[-1].out_shape[:2]
    out = np.full(layers[-1].out_shape, np.nan, np.float32)
    for tile in grid(out_hw, n, m):
        first, _pads = walk_back(layers, tile)[0]
        part = run_region(layers, x[first.r1:first.r2, first.c1:first.c2], tile)
        out[tile.r1:tile.r2, tile.c1:tile.c2] = part
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_ftp_tiles_merge_to_keras_output(yolo, n):
    _info, stage, x, ref = yolo
    np.testing.assert_allclose(ftp(stage, x, n, n, 16), ref, **TOL)


def test_ftp_on_fewer_fused_layers_then_the_rest_whole(yolo):
    """--fused=8: tiles of layer 8's output, then the gateway runs layers 8-15 whole."""
    _info, stage, x, ref = yolo
    y = ftp(stage, x, 3, 3, 8)
    for layer in stage.layers[8:]:
        y = layer(y)
    np.testing.assert_allclose(y, ref, **TOL)


@pytest.mark.parametrize("speeds", [[1], [1, 1], [1, 1, 1], [2, 1, 1, 1], [1] * 5,
                                    [3, 1, 1, 1, 2, 1]])
def test_bodp_bands_layer_by_layer_equal_keras(yolo, speeds):
    """MoDNN: each layer's output rows cut in proportion to speed, exchanged through the
    gateway after every layer."""
    _info, stage, x, ref = yolo
    y = x
    for layer in stage.layers:
        out = np.empty(layer.out_shape, np.float32)
        for r1, r2 in biased_rows(layer.out_shape[0], speeds):
            if r1 == r2:
                continue
            band = Region(r1, r2, 0, layer.out_shape[1])
            first, _pads = walk_back([layer], band)[0]
            out[r1:r2] = run_region([layer], y[first.r1:first.r2], band)
        y = out
    np.testing.assert_allclose(y, ref, **TOL)


def test_walk_back_grows_by_half_kernel_and_pool_stride(yolo):
    """DeepThings' traversal: a 3x3 conv adds one row each side (clipped at the border), a
    1x1 conv nothing, a 2x2 pool doubles."""
    _info, stage, _x, _ref = yolo
    conv3, pool, conv1 = stage.layers[12], stage.layers[11], stage.layers[13]
    (r, pads), = walk_back([conv3], Region(4, 6, 0, 2))
    assert (r, pads.top, pads.left) == (Region(3, 7, 0, 3), 0, 1)
    (r, _), = walk_back([pool], Region(4, 6, 0, 2))
    assert r == Region(8, 12, 0, 4)
    (r, _), = walk_back([conv1], Region(4, 6, 0, 2))
    assert r == Region(4, 6, 0, 2)


def test_grid_parts_are_never_empty_and_checkerboard_goes_first():
    assert [bounds(i, 6, 10) for i in range(6)] == [(0, 1), (1, 3), (3, 5), (5, 6), (6, 8),
                                                    (8, 10)]
    tiles = grid((10, 10), 5, 5)
    assert len(tiles) == 25 and all(not t.empty for t in tiles)
    assert sum(t.rows * t.cols for t in tiles) == 100
    order = checkerboard(3, 3)
    assert order[:5] == [0, 2, 4, 6, 8] and sorted(order) == list(range(9))


def test_biased_rows_follow_speed_and_add_up():
    assert biased_rows(10, [1, 1]) == [(0, 5), (5, 10)]
    assert biased_rows(10, [3, 1, 1]) == [(0, 6), (6, 8), (8, 10)]
    assert biased_rows(2, [1, 1, 1]) == [(0, 1), (1, 2), (2, 2)]
    with pytest.raises(ValueError):
        biased_rows(10, [1, 0])


def tile_costs(profile, layers, n):
    """Profiled ms of each tile's stack of an n x n grid."""
    return [profile.frame_ms(stack_costs(layers, tile))
            for tile in grid(layers[-1].out_shape[:2], n, n)]


def shapes_only(side):
    """YOLOv2's 16 layers at `side` x `side` with zero weights: geometry and cost only."""
    from harness.models.yolov2_16 import LAYERS

    layers, shape = [], (side, side, 3)
    for spec in LAYERS:
        if spec == "M":
            layer = PoolLayer(2, shape[:2], shape[2])
        else:
            f, k = spec
            layer = ConvLayer(np.zeros((k, k, shape[2], f), np.float32),
                              np.zeros(f, np.float32), "leaky", shape[:2], True)
        layers.append(layer)
        shape = layer.out_shape
    return layers


def test_conv_profile_prices_flops_and_a_tile_costs_its_region(yolo):
    """rpi3bplus: 782.8 ms per GFLOP + 2.105 ms per layer (profiles.json conv_fit_basis):
    one 160x160 frame is 1444 ms; tiles recompute their overlap, so a grid costs more than
    the frame in all, and a finer grid less per tile."""
    _info, stage, _x, _ref = yolo
    rpi = load_profile("rpi3bplus")
    whole = rpi.frame_ms(Pipeline((stage,)).costs)
    assert whole == pytest.approx(1444.4, abs=0.5)
    t3, t5 = tile_costs(rpi, stage.layers, 3), tile_costs(rpi, stage.layers, 5)
    assert whole < sum(t3) < sum(t5)
    assert max(t5) < max(t3) < whole
    with pytest.raises(ProfileError, match="no conv cost"):
        Profile("dense-only").cost_ms(map_cost(stage.layers[0], Region(0, 1, 0, 1)))


def test_overlap_is_why_comparisons_use_608():
    """The 16 fused layers add a 59-pixel halo per side whatever the input size: at 160 a
    5x5 tile needs most of the frame (the grid costs 8x the frame), at DeepThings' 608 the
    overlap is small enough (under 2.5x, 3x3 under 1.6x) for FTP to pay off."""
    rpi = load_profile("rpi3bplus")
    ratio = {}
    for side in (160, 608):
        layers = shapes_only(side)
        whole = rpi.frame_ms([map_cost(la, Region.whole(la.out_shape[:2])) for la in layers])
        ratio[side] = {n: sum(tile_costs(rpi, layers, n)) / whole for n in (3, 5)}
    assert ratio[160][5] > 6 and ratio[608][5] < 2.5 and ratio[608][3] < 1.6


def test_a_region_of_the_wrong_shape_is_refused(yolo):
    _info, stage, x, _ref = yolo
    with pytest.raises(ValueError, match="needs"):
        run_region(stage.layers, x[:10, :10], Region(0, 2, 0, 2))


def test_a_conv_stage_with_a_bad_kernel_fails_at_load(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, input_shape=np.array([8, 8, 3]), kind_0=np.array("conv"),
             kernel_0=np.zeros((2, 2, 3, 4), np.float32), bias_0=np.zeros(4, np.float32))
    with pytest.raises(StageError, match="odd square kernel"):
        load_stage(bad)
