"""The realism measures of issue 17 (calibration/eval/realism.py): planted faults that each measure must
catch, then the issue's goals on the astronaut with the portrait renderer.

The renderer-level goals that the renderer does not meet yet are marked ``xfail(strict=True)``: when the
renderer work lands they pass, strict xfail turns that into a failure, and the mark is taken off."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facecast.calibration.eval import realism
from facecast.engine.types import FaceSample

SIZE = 512


# --------------------------------------------------------------------------- #
# Planted faults: synthetic pictures the measures must pass and fail
# --------------------------------------------------------------------------- #

def _disk(size: int, centre: tuple[float, float], radius: float, *, coverage: bool) -> np.ndarray:
    """(size, size, 3) uint8: a dark disk on skin tone, drawn with a binary inside test at pixel centres
    (``coverage=False``: a hard edge) or with each pixel's coverage (distance to the edge, clipped to one
    pixel: an anti-aliased edge)."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    dist = np.hypot(xx - centre[0], yy - centre[1])
    alpha = np.clip(radius - dist + 0.5, 0.0, 1.0) if coverage else (dist <= radius).astype(np.float64)
    skin, cavity = np.array([205.0, 160.0, 140.0]), np.array([40.0, 14.0, 18.0])
    img = skin * (1 - alpha[..., None]) + cavity * alpha[..., None]
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _disk_stats(coverage: bool) -> dict:
    f = realism.SUPERSAMPLE
    centre, radius = (251.3, 262.7), 40.4
    small = _disk(SIZE, centre, radius, coverage=coverage)
    big = _disk(SIZE * f, (centre[0] * f, centre[1] * f), radius * f, coverage=coverage)
    reference = realism.box_downsample(big, f)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    region = np.hypot(xx - centre[0], yy - centre[1]) <= radius + 3  # the disk and a few pixels around it
    return realism.aliasing_stats(small, reference, region)


def test_box_downsample_means_blocks():
    a = np.arange(16, dtype=np.float64).reshape(4, 4)
    assert np.array_equal(realism.box_downsample(a, 2), [[2.5, 4.5], [10.5, 12.5]])
    with pytest.raises(ValueError, match="multiple"):
        realism.box_downsample(np.zeros((5, 4)), 2)


def test_a_hard_edged_disk_fails_the_aliasing_goal_and_a_coverage_disk_passes():
    hard, soft = _disk_stats(coverage=False), _disk_stats(coverage=True)
    assert hard["p99"] > realism.GOAL_ALIAS_P99, hard  # the stair-stepped edge
    assert soft["mean"] <= realism.GOAL_ALIAS_MEAN and soft["p99"] <= realism.GOAL_ALIAS_P99, soft
    assert hard["pixels"] == soft["pixels"] > 5000


def _texture(shape: tuple[int, int], seed: int) -> np.ndarray:
    """(H, W, 3) uint8 isotropic texture: white noise blurred by a 1.2 px Gaussian, skin-toned."""
    import cv2

    noise = np.random.default_rng(seed).normal(0.0, 1.0, shape)
    grain = cv2.GaussianBlur(noise, (0, 0), 1.2)
    grey = 150 + 40 * grain / grain.std()
    return np.clip(np.stack([grey * 1.2, grey, grey * 0.85], -1), 0, 255).astype(np.uint8)


def test_a_texture_stretched_3x_vertically_fails_the_streak_goal_and_an_unstretched_one_passes():
    import cv2

    region = np.zeros((120, 120), bool)
    region[10:110, 10:110] = True
    rest = realism.streak_ratio(_texture((120, 120), seed=1), region)
    assert 0.8 < rest < 1.25  # isotropic texture: as much energy across x as across y
    other = realism.streak_ratio(_texture((120, 120), seed=2), region)  # the same kind of texture, unstretched
    short = _texture((40, 120), seed=3)
    stretched = cv2.resize(short, (120, 120), interpolation=cv2.INTER_LINEAR)  # as a bilinear warp stretches it
    streaky = realism.streak_ratio(stretched, region)
    assert other / rest <= realism.GOAL_STREAK_RATIO
    assert streaky / rest > realism.GOAL_STREAK_RATIO * 3, (streaky, rest)
    # and a real photo's texture, stretched the same way: the astronaut's hair and skin
    from facecast.engine.render.portrait.rig import astronaut_rgb

    photo = astronaut_rgb()[40:160, 180:300]
    band = cv2.resize(photo[40:80], (120, 120), interpolation=cv2.INTER_LINEAR)
    assert realism.streak_ratio(band, region) / realism.streak_ratio(photo, region) > realism.GOAL_STREAK_RATIO


def test_streak_ratio_reads_direction():
    stripes_x = np.zeros((64, 64, 3), np.uint8)
    stripes_x[:, ::3] = 200  # vertical lines: variation along x
    region = np.ones((64, 64), bool)
    assert realism.streak_ratio(stripes_x, region) > 100
    assert realism.streak_ratio(stripes_x.transpose(1, 0, 2), region) < 0.01
    assert np.isnan(realism.streak_ratio(stripes_x, np.zeros((64, 64), bool)))


def test_contour_chains_are_ordered_loops_and_brow_edges():
    eye = realism.contour_chains("FACE_LANDMARKS_LEFT_EYE")
    assert len(eye) == 1 and eye[0][0] == eye[0][-1] and len(set(eye[0])) == 16
    lips = realism.contour_chains("FACE_LANDMARKS_LIPS")
    assert len(lips) == 2 and all(c[0] == c[-1] and len(set(c)) == 20 for c in lips)
    brow = realism.contour_chains("FACE_LANDMARKS_RIGHT_EYEBROW")
    assert sorted(len(c) for c in brow) == [5, 5] and all(c[0] != c[-1] for c in brow)


# --------------------------------------------------------------------------- #
# The portrait renderer on the astronaut
# --------------------------------------------------------------------------- #

@pytest.fixture(scope="module")
def renderers():
    small, big = realism.make_renderers("astronaut")
    yield small, big
    small.close()
    big.close()


@pytest.fixture(scope="module")
def aliasing(renderers):
    return realism.measure_aliasing(*renderers)


@pytest.fixture(scope="module")
def streaks(renderers):
    return realism.measure_streaks(renderers[0])


@pytest.fixture(scope="module")
def neutralisation(renderers):
    return realism.measure_neutralisation(renderers[0])


def test_the_big_frame_has_the_same_framing(renderers):
    small, big = renderers
    f = realism.SUPERSAMPLE
    for spec in (None, {}, {"jawOpen": 1.0}):
        lm = [r.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=realism.weights_of(spec, r.rest_weights)))
              for r in (small, big)]
        assert np.abs(lm[1] / f - lm[0]).max() < 1.0


def test_regions_follow_the_drawn_landmarks(renderers):
    r = renderers[0]
    w = realism.weights_of({"jawOpen": 1.0}, r.rest_weights)
    lm = r.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=w))
    shape = (SIZE, SIZE)
    mouth, eyes = realism.mouth_region(lm, shape), realism.eye_regions(lm, shape)
    lids, lips = realism.lid_region(lm, shape), realism.lip_region(lm, shape)
    assert not (mouth & eyes).any() and not (lids & lips).any()
    assert not (lids & realism.eye_regions(lm, shape, dilate_iods=0.0)).any()
    iris = np.round(lm[[468, 473]] - 0.5).astype(int)  # the iris centres lie in the eye region, not the lids
    assert eyes[iris[:, 1], iris[:, 0]].all() and not lids[iris[:, 1], iris[:, 0]].any()
    inner = np.round(lm[[13, 14]].mean(0) - 0.5).astype(int)  # the middle of the open mouth
    assert mouth[inner[1], inner[0]] and not lips[inner[1], inner[0]]
    chin = np.round(lm[17] + (lm[152] - lm[17]) * 0.25 - 0.5).astype(int)  # below the lower lip, toward the chin
    assert lips[chin[1], chin[0]]


def test_aliasing_measures_every_pose_with_a_control(aliasing):
    assert set(aliasing["poses"]) == set(realism.ALIAS_POSES)
    for entry in [*aliasing["poses"].values(), aliasing["control"]]:
        for region in ("mouth", "eyes"):
            assert entry[region]["pixels"] > 500 and entry[region]["p99"] >= entry[region]["mean"] >= 0
    assert not aliasing["notes"]  # the 2048 frame draws the face where the 512 one does
    json.dumps(aliasing)


def _goal(measure: str, group: str, name: str, missed_because: str = "") -> object:
    """One goal of issue 17: ``measure``'s fixture, ``[group][name]["passes"]``; ``missed_because``: the
    renderer misses it today, for that reason (strict xfail: take the reason out when it is met)."""
    marks = [pytest.mark.xfail(strict=True, reason=missed_because)] if missed_because else []
    return pytest.param(measure, group, name, marks=marks, id=f"{measure}-{name}")


GOALS = [
    _goal("aliasing", "poses", "jawOpen_0.5"),
    _goal("aliasing", "poses", "blink"),
    _goal("aliasing", "poses", "eyeWide"),
    # met since the brows' fields move the upper lid evenly (1.33x; 1.55x while taking the astronaut's raised brows
    # out of the neutral face lowered her lids' middle into a tent)
    _goal("streaks", "shapes", "blink"),
    _goal("streaks", "shapes", "mouthFunnel"),
    _goal("streaks", "shapes", "mouthPucker"),
    _goal("streaks", "shapes", "jawOpen"),
]


@pytest.mark.parametrize("measure, group, name", GOALS)
def test_goal(measure, group, name, request):
    m = request.getfixturevalue(measure)
    entry = m[group][name]
    assert entry["passes"], f"{measure} {name}: {entry}" + (f" (control {m['control']})" if "control" in m else "")


def test_a_tongue_put_out_comes_out_over_the_lower_lip_with_soft_edges(renderers):
    """tongueOut drew the tongue only inside the mouth's opening, as a slab filling it, with the lips as they were. It
    now comes out between the lips, which part around it, right under the upper lip where the mouth is barely open,
    and over the lower lip (``raster._tongue_out``): its tip
    lies below the lower lip's outer edge, and its outline is drawn with fractional coverage. Where the tongue changes
    the frame, the 512 frame against the 2048 one box-filtered: mean 1.6, p99 11 grey levels on the astronaut
    (0.90-1.6 and 4.9-11 on five photos; a hard-edged outline: p99 36); the goals of issue 17 are 3 and 24."""
    small, big = renderers
    rest = small.rest_weights
    out, shut = (realism.weights_of(spec, rest) for spec in ({"jawOpen": 0.5, "tongueOut": 1.0}, {"jawOpen": 0.5}))
    frame, without = realism.render_rgb(small, out), realism.render_rgb(small, shut)
    changed = realism._dilate(np.abs(frame.astype(np.int16) - without).max(-1) > 12, 2.0)
    lm = small.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=out))
    iod = float(np.linalg.norm(lm[468] - lm[473]))
    # under the lower lip's outer middle, the tongue's colour
    from facecast.engine.render.portrait.raster import P_TONGUE_RGB

    x, y = np.round(lm[17] + [0.0, 0.03 * iod] - 0.5).astype(int)
    tongue = small._params[P_TONGUE_RGB:P_TONGUE_RGB + 3]
    to_tongue = [float(np.linalg.norm(f[y, x].astype(np.float64) - tongue)) for f in (frame, without)]
    assert to_tongue[0] < 0.5 * to_tongue[1], ("the tongue does not come out over the lower lip", to_tongue)
    # with the jaw shut it comes out right under the upper lip (drawn under the teeth, a slit of grey teeth lay over it)
    alone = realism.weights_of({"tongueOut": 1.0}, rest)
    lips = small.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=alone))
    x, y = np.round(lips[13] + [0.0, 0.015 * iod] - 0.5).astype(int)
    pixel = realism.render_rgb(small, alone)[y, x].astype(np.float64)
    hue = lambda rgb: np.asarray(rgb, np.float64) / max(float(np.sum(rgb)), 1.0)  # noqa: E731 (the tongue lies in shade)
    assert np.linalg.norm(hue(pixel) - hue(tongue)) < 0.05, (pixel, tongue)
    # the lips part around it: the lower lip's middle comes down (:data:`~.fields.TONGUE_LIP_DROP`), its corners stay
    shut_lm = small.drawn_landmarks(FaceSample(capture_wall_ns=0, weights=shut))
    assert lm[14, 1] - shut_lm[14, 1] > 0.02 * iod and np.abs(lm[[61, 291]] - shut_lm[[61, 291]]).max() < 0.01 * iod
    stats = realism.aliasing_stats(frame, realism.box_downsample(realism.render_rgb(big, out), realism.SUPERSAMPLE),
                                   changed)
    assert stats["pixels"] > 500, stats
    assert stats["mean"] <= realism.GOAL_ALIAS_MEAN and stats["p99"] <= realism.GOAL_ALIAS_P99, stats


def test_the_photo_alone_resamples_within_the_goals(aliasing):
    """The control: the photo's own expression at 512 against 2048 box-filtered. Where it misses the goals,
    no pose can meet them: the two sizes do not draw the same photo."""
    c = aliasing["control"]
    assert realism._alias_passes({k: c[k] for k in ("mouth", "eyes")}), c


def test_neutral_weights_read_back_no_smile(neutralisation):
    read = neutralisation["readback"]
    assert read["photo"]["mouthSmileLeft"] > 0.6  # the astronaut smiles at rest (0.90)
    assert neutralisation["passes"]["zero_smile"], read["zero"]


def test_sadness_reads_back_a_frown(neutralisation):
    assert neutralisation["passes"]["sadness_frown"], neutralisation["readback"]["sadness"]


def test_summary_and_closeup_sheet(renderers, aliasing, streaks, neutralisation):
    m = {"aliasing": aliasing, "streaks": streaks, "neutralisation": neutralisation}
    row = realism.summary_row({**m, "passes": {}})
    assert row["aliasing_worst_p99"] == max(e[k]["p99"] for e in aliasing["poses"].values() for k in ("mouth", "eyes"))
    lines = realism.summary_lines(m)
    poses = len(realism.ALIAS_POSES)
    assert len(lines) == poses + 4 and "control" in lines[poses + 1] and "all zeros" in lines[-1]
    sheet = realism.closeup_sheet(renderers[0], frames={"photo": None, "jawOpen 1": {"jawOpen": 1.0}}, title="t")
    boxes = realism.closeup_boxes(renderers[0].rig.landmarks, (SIZE, SIZE))
    tile_w = sum(2 * (b[2] - b[0]) for b in boxes.values())
    assert sheet.dtype == np.uint8 and sheet.shape[1] > 2 * tile_w and sheet.shape[0] > 2 * (boxes["mouth"][3] - boxes["mouth"][1])


# --------------------------------------------------------------------------- #
# facecast eval
# --------------------------------------------------------------------------- #

def test_eval_writes_the_realism_section_and_closeups(tmp_path, capsys):
    from facecast.engine.cli import main

    assert main(["eval", "--sequence", "sweep:jawOpen", "--size", "128x128", "--identity-model", "none",
                 "--out", str(tmp_path)]) == 0
    m = json.loads((tmp_path / "metrics.json").read_text())["realism"]
    assert m["available"] and m["aliasing"]["size"] == "512x512"  # measured at 512 whatever --size
    assert set(m["aliasing"]["poses"]) == set(realism.ALIAS_POSES) and "control" in m["aliasing"]
    assert set(m["streaks"]["shapes"]) == set(realism.STREAK_SHAPES)
    assert set(m["neutralisation"]["readback"]) == {"photo", "zero", "sadness"}
    assert set(m["passes"]) == {"aliasing", "streaks", "neutralisation"}
    assert set(m["lid_lines"]) == {f"eyeWide_{w:g}" for w in realism.LID_LINE_WIDE} | {"worst_share"}
    assert all(e["columns"] > 20 for k, e in m["lid_lines"].items() if k != "worst_share")
    assert 50_000 < (tmp_path / "closeups.png").stat().st_size < 1_000_000
    out = capsys.readouterr().out
    assert "realism, aliasing" in out and "realism, neutralisation" in out and "closeups:" in out
    assert "realism, lid lines" in out


def test_eval_of_another_renderer_says_realism_is_for_the_portrait(tmp_path):
    from facecast.engine.cli import main

    assert main(["eval", "--renderer", "testpattern", "--sequence", "sweep:jawOpen", "--size", "64x64",
                 "--identity-model", "none", "--out", str(tmp_path)]) == 0
    m = json.loads((tmp_path / "metrics.json").read_text())["realism"]
    assert m["available"] is False and "portrait" in m["reason"]
    assert not (tmp_path / "closeups.png").exists()


def test_the_portrait_set_table_shows_realism(capsys):
    from facecast.engine.cli.eval import print_set_table

    real = {"aliasing_worst_mean": 5.3, "aliasing_worst_p99": 46.3, "streak_worst": 1.2, "zero_smile": 0.8,
            "lid_lines": 0.08, "passes": {}}
    row = {"shapes": {"JawOpen": {"closed_loop": True, "geometry": True}}, "closed_loop_passing": 1,
           "closed_loop_total": 1, "geometry_passing": 1, "geometry_total": 1, "identity_max": 0.472,
           "identity_farthest": {"frame": 15, "distance": 0.472, "weights": {"MouthPucker": 0.9, "JawOpen": 0.2}}}
    print_set_table({"obama.jpg": {**row, "realism": real}, "wall.png": {"refused": "no face found"}})
    out = capsys.readouterr().out
    at = next(x for x in out.splitlines() if x.startswith("  at (the largest shape)"))
    assert at.split()[-2:] == ["MouthPu", "0.9+"]  # cut to the column; the farthest frame shows more than one shape
    line = next(x for x in out.splitlines() if x.startswith("obama.jpg"))
    assert line.split() == ["obama.jpg", "5.30*", "46.30*", "1.20", "0.80*", "0.08"]  # lid lines: no goal
    assert "refused wall.png" in out
