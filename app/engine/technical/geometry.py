"""Geometry of the frame: horizon tilt and where the subject and the visual weight sit.

Horizon: on the colour copy (``COLOUR_LONG_SIDE`` px), near-horizontal edge pixels (Sobel gradient of
the strongest of luminance / red-green / yellow-blue, within ``MAX_TILT + ANGLE_TOLERANCE`` degrees
of vertical, magnitude in the top 15 %, thinned to one pixel along y, away from the top and bottom
edges) vote in a Hough accumulator over angles -``MAX_TILT``..``MAX_TILT``, each only for angles
near its own orientation. The strongest line counts as a horizon when its supporting pixels cover
at least ``MIN_COVERAGE`` of the frame width (texture and curves do not line up that far); its
angle is then refined by a least-squares fit of those pixels. Tilt is positive counter-clockwise
(the line rises to the right), like ``PIL.Image.rotate``; rotating by ``-tilt`` levels it.
Limitations: any long straight near-horizontal edge (a table edge, a roofline) counts as the
horizon; lines tilted more than ``MAX_TILT`` are not looked for; a horizon that is only a change of
texture, with no change of tone or colour, is not seen.

Subject and balance: a saliency map on the colour copy: centre-surround contrast of tone and
colour at three scales (after Itti et al. 1998), weighted by local sharpness (|Laplacian| of the
working luminance) so in-focus detail counts more. The likely subject is the peak of that map
averaged over about a sixth of the frame; the visual weight is the map itself. It is a heuristic:
it finds the strongest point of contrast and detail, which is usually but not always the subject.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

from app.engine.technical import readings as rd
from app.engine.technical.measure import Prepared, laplacian
from app.engine.technical.results import Horizon, Measurement, Placement

MAX_TILT = 20.0  # degrees
ANGLE_TOLERANCE = 5.0  # an edge pixel votes for angles this close to its own orientation
ANGLE_STEP = 0.25
MIN_COVERAGE = 0.35  # fraction of the frame width a line must span to count as a horizon
EDGE_PERCENTILE = 85.0
EDGE_FLOOR = 16.0  # Sobel magnitude floor (a 4-level step)
EDGE_MARGIN = 0.05  # fraction of the height at the top and bottom where lines are ignored
THIRDS_POINTS = ((1 / 3, 1 / 3), (2 / 3, 1 / 3), (1 / 3, 2 / 3), (2 / 3, 2 / 3))
THIRDS_POINT_NAMES = ("upper left", "upper right", "lower left", "lower right")


def _sobel(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gx = (a[:-2, 2:] + 2 * a[1:-1, 2:] + a[2:, 2:]) - (a[:-2, :-2] + 2 * a[1:-1, :-2] + a[2:, :-2])
    gy = (a[2:, :-2] + 2 * a[2:, 1:-1] + a[2:, 2:]) - (a[:-2, :-2] + 2 * a[:-2, 1:-1] + a[:-2, 2:])
    return gx, gy


def _colour_gradients(img: Image.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sobel gradients of the channel (luminance, red-green, yellow-blue) with the strongest edge at
    each pixel, so a sky/land boundary of equal brightness but different colour still counts."""
    f = np.asarray(img, dtype=np.float32)
    channels = ((f[..., 0] + f[..., 1] + f[..., 2]) / 3, f[..., 0] - f[..., 1], 0.5 * (f[..., 0] + f[..., 1]) - f[..., 2])
    best_gx, best_gy = _sobel(channels[0])
    best_mag = np.hypot(best_gx, best_gy)
    for ch in channels[1:]:
        gx, gy = _sobel(ch)
        mag = np.hypot(gx, gy)
        take = mag > best_mag
        best_gx = np.where(take, gx, best_gx)
        best_gy = np.where(take, gy, best_gy)
        best_mag = np.where(take, mag, best_mag)
    return best_gx, best_gy, best_mag


def measure_horizon(prep: Prepared) -> Horizon:
    """Tilt of the dominant near-horizontal straight line, or ``None`` (see the module docstring)."""
    img = prep.small.filter(ImageFilter.GaussianBlur(0.7))
    w, h = img.size
    none = Horizon(tilt=Measurement(None, "degrees", rd.tilt_reading(None)), line_position=None, coverage=None)
    gx, gy, mag = _colour_gradients(img)
    with np.errstate(divide="ignore", invalid="ignore"):
        orient = np.degrees(np.arctan(gx / gy))  # edge angle, + counter-clockwise
    thr = max(EDGE_FLOOR, float(np.percentile(mag, EDGE_PERCENTILE)))
    cand = (mag >= thr) & (np.abs(orient) <= MAX_TILT + ANGLE_TOLERANCE)
    # thin to one pixel across the edge: a local maximum of the magnitude along y
    peak = np.zeros_like(cand)
    peak[1:-1] = (mag[1:-1] >= mag[:-2]) & (mag[1:-1] > mag[2:])
    cand &= peak
    margin = max(1, int(EDGE_MARGIN * h))  # lines hugging the frame edge are not horizons
    cand[:margin] = False
    cand[-margin:] = False
    rows, cols = np.nonzero(cand)
    if cols.size < MIN_COVERAGE * w:
        return none
    ys = rows.astype(np.float32) + 1.0  # Sobel output is one pixel in from the border
    xs = cols.astype(np.float32) + 1.0
    own = orient[cand].astype(np.float32)
    angles = np.arange(-MAX_TILT, MAX_TILT + ANGLE_STEP / 2, ANGLE_STEP, dtype=np.float32)
    theta = np.radians(angles)
    rho = xs[:, None] * np.sin(theta)[None, :] + ys[:, None] * np.cos(theta)[None, :]
    rho_min = -w * math.sin(math.radians(MAX_TILT)) - 2
    n_rho = int(math.ceil(w * math.sin(math.radians(MAX_TILT)) + h - rho_min)) + 2
    rho_bin = np.rint(rho - rho_min).astype(np.int64)
    votes = np.abs(own[:, None] - angles[None, :]) <= ANGLE_TOLERANCE
    index = (np.arange(angles.size, dtype=np.int64)[None, :] * n_rho + rho_bin)[votes]
    acc = np.bincount(index, minlength=angles.size * n_rho).reshape(angles.size, n_rho).astype(np.float32)
    acc[:, 1:-1] += acc[:, :-2] + acc[:, 2:]  # tolerate a line that is ragged by a pixel
    ai, ri = np.unravel_index(int(np.argmax(acc)), acc.shape)
    line_rho = ri + rho_min
    # supporting pixels: near the line and agreeing with its angle
    support = (np.abs(rho[:, ai] - line_rho) <= 1.5) & votes[:, ai]
    coverage = np.unique(xs[support].astype(np.int64)).size / w
    if coverage < MIN_COVERAGE:
        return none
    sx, sy = xs[support].astype(np.float64), ys[support].astype(np.float64)
    tilt = -math.degrees(math.atan(np.polyfit(sx, sy, 1)[0]))
    if abs(tilt - float(angles[ai])) > 1.0:  # a bad fit: keep the Hough angle
        tilt = float(angles[ai])
    t = math.radians(tilt)
    centre_y = (line_rho - (w / 2) * math.sin(t)) / math.cos(t)
    return Horizon(
        tilt=Measurement(round(tilt, 2), "degrees", rd.tilt_reading(tilt)),
        line_position=round(min(1.0, max(0.0, centre_y / h)), 3),
        coverage=round(min(1.0, coverage), 3),
    )


def _box_blur(a: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window, counting outside the frame as zero (so the peak of a blurred
    weight map is not pulled to the frame edge). Separable, via cumulative sums."""
    if radius < 1:
        return a
    out = np.pad(a, radius)
    for axis in (0, 1):
        c = np.cumsum(out, axis=axis)
        c = np.concatenate([np.zeros_like(c.take([0], axis=axis)), c], axis=axis)
        n = out.shape[axis] - 2 * radius
        lo = np.arange(n)
        hi = lo + 2 * radius + 1
        out = (c.take(hi, axis=axis) - c.take(lo, axis=axis)) / (2 * radius + 1)
    return out


def _normalise(a: np.ndarray) -> np.ndarray:
    top = float(np.percentile(a, 99))
    if top <= 1e-9:
        return np.zeros_like(a)
    return np.clip(a / top, 0.0, 1.0)


def _opponent(img: Image.Image) -> np.ndarray:
    f = np.asarray(img, dtype=np.float32)
    return np.stack([(f[..., 0] + f[..., 1] + f[..., 2]) / 3, f[..., 0] - f[..., 1],
                     0.5 * (f[..., 0] + f[..., 1]) - f[..., 2]], axis=-1)


def saliency_map(prep: Prepared) -> np.ndarray:
    """Visual weight at the colour copy's size, in [0, 1]: centre-surround colour/tone contrast at three
    scales (after Itti et al. 1998), weighted by local sharpness so in-focus detail counts more."""
    small = prep.small
    size = max(small.size)
    contrast = np.zeros((small.height, small.width), dtype=np.float32)
    for centre, surround in ((1, 6), (2, 12), (4, 24)):
        c = _opponent(small.filter(ImageFilter.GaussianBlur(centre * size / 320)))
        s = _opponent(small.filter(ImageFilter.GaussianBlur(surround * size / 320)))
        contrast += _normalise(np.sqrt(((c - s) ** 2).sum(axis=-1)))
    lap = np.abs(laplacian(np.asarray(prep.work, dtype=np.float32)))
    detail = np.asarray(Image.fromarray(lap).resize(small.size, Image.Resampling.BOX), dtype=np.float32)
    detail = _normalise(_box_blur(detail, max(1, size // 80)))
    return _normalise(contrast) * (0.3 + 0.7 * detail)


def measure_placement(prep: Prepared) -> Placement:
    """Saliency peak vs the thirds grid, and the left/right split of the visual weight."""
    sal = saliency_map(prep)
    h, w = sal.shape
    total = float(sal.sum())
    if total <= 0:  # a uniform frame: no point stands out
        return Placement(
            subject=(0.5, 0.5), region="centre", kind="none", nearest_thirds_point=(0.333, 0.333),
            nearest_thirds_name=THIRDS_POINT_NAMES[0],
            thirds_offset=Measurement(None, "% of frame", rd.thirds_reading("none", "")),
            balance=Measurement(50.0, "% on the left half", rd.balance_reading(50.0)), weight_centre=(0.5, 0.5))
    smooth = _box_blur(sal, max(1, min(h, w) // 12))
    r, c = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
    x, y = (c + 0.5) / w, (r + 0.5) / h
    dists = [math.hypot(x - px, y - py) for px, py in THIRDS_POINTS]
    k = int(np.argmin(dists))
    kind, where = _placement_kind(x, y, dists[k], THIRDS_POINT_NAMES[k])
    left = float(sal[:, : w // 2].sum() + (sal[:, w // 2].sum() / 2 if w % 2 else 0.0)) / total * 100
    cy, cx = (np.indices(sal.shape) * sal).reshape(2, -1).sum(axis=1) / total
    centre = (float((cx + 0.5) / w), float((cy + 0.5) / h))
    return Placement(
        subject=(round(float(x), 3), round(float(y), 3)),
        region=rd.region_name(x, y),
        kind=kind,
        nearest_thirds_point=(round(THIRDS_POINTS[k][0], 3), round(THIRDS_POINTS[k][1], 3)),
        nearest_thirds_name=THIRDS_POINT_NAMES[k],
        thirds_offset=Measurement(round(dists[k] * 100, 1), "% of frame", rd.thirds_reading(kind, where)),
        balance=Measurement(round(left, 1), "% on the left half", rd.balance_reading(left)),
        weight_centre=(round(centre[0], 3), round(centre[1], 3)),
    )


def _placement_kind(x: float, y: float, point_dist: float, point_name: str) -> tuple[str, str]:
    if point_dist <= rd.THIRDS_POINT_NEAR:
        return "thirds_point", point_name
    if math.hypot(x - 0.5, y - 0.5) <= rd.CENTRE_NEAR:
        return "centre", "centre"
    for value, line, names in ((x, 1 / 3, "left"), (x, 2 / 3, "right"), (y, 1 / 3, "upper"), (y, 2 / 3, "lower")):
        if abs(value - line) <= rd.THIRDS_LINE_NEAR:
            return "thirds_line", names
    return "off", rd.region_name(x, y)
