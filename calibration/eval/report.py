"""The picture of a ``facecast eval`` run: response curves, identity over time, frames."""

from __future__ import annotations

import numpy as np

PANEL_PX = 180
_BG, _AXIS, _GOOD, _BAD, _IDEAL = (250, 250, 250), (90, 90, 90), (40, 150, 70), (210, 60, 50), (170, 170, 170)
_GEOMETRY = (60, 110, 200)


def _panel(draw, x0: int, y0: int, size: int, title: str, ok: bool) -> tuple:
    """A framed panel with a two-line title; returns the plot area (x, y, w, h) inside its axes."""
    draw.rectangle([x0, y0, x0 + size - 1, y0 + size - 1], outline=_AXIS)
    draw.text((x0 + 4, y0 + 3), title, fill=_GOOD if ok else _BAD)
    return x0 + 30, y0 + 34, size - 40, size - 58


def _axes(draw, x: float, y: float, w: float, h: float, *, xticks, yticks, xlabel: str, ylabel: str,
          x_max: float = 1.0, y_max: float = 1.0) -> None:
    """Left and bottom axes of the plot area (x, y, w, h) with labelled ticks (values in data units)."""
    draw.line([x, y, x, y + h, x + w, y + h], fill=_AXIS)
    for v in xticks:
        tx = x + v / x_max * w
        draw.line([tx, y + h, tx, y + h + 3], fill=_AXIS)
        label = f"{v:g}"
        draw.text((tx - 3 * len(label), y + h + 4), label, fill=_AXIS)
    for v in yticks:
        ty = y + h - v / y_max * h
        draw.line([x - 3, ty, x, ty], fill=_AXIS)
        label = f"{v:g}"
        draw.text((x - 5 - 6 * len(label), ty - 5), label, fill=_AXIS)
    draw.text((x + w - 6 * len(xlabel), y + h + 13), xlabel, fill=_AXIS)
    draw.text((x + 4, y), ylabel, fill=_AXIS)


def draw_report(metrics: dict, identity: np.ndarray, sheet: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 report: one response panel per swept shape (measured
    against requested, grey diagonal = ideal, title green when the shape meets
    the goals; a thin blue line: the geometry channel, when measured), the
    identity distance per frame with the goal line, and the contact sheet below."""
    from PIL import Image, ImageDraw

    shapes = metrics["shapes"]
    cols = 7
    rows = max(1, -(-len(shapes) // cols))
    width = max(cols * PANEL_PX, sheet.shape[1])
    ident_h = 160
    height = rows * PANEL_PX + ident_h + 30 + sheet.shape[0]
    img = Image.new("RGB", (width, height), _BG)
    d = ImageDraw.Draw(img)
    for i, (name, s) in enumerate(shapes.items()):
        r, c = divmod(i, cols)
        rho, rng = s.get("spearman_rho"), s.get("range")
        title = (f"{name[:18]}\nrho {'-' if rho is None else f'{rho:.2f}'} "
                 f"range {'-' if rng is None else f'{rng:.2f}'}")
        px, py, pw, ph = _panel(d, c * PANEL_PX, r * PANEL_PX, PANEL_PX, title, s.get("passes", True))
        _axes(d, px, py, pw, ph, xticks=(0, 0.5, 1), yticks=(0, 0.5, 1), xlabel="requested", ylabel="measured")
        d.line([px, py + ph, px + pw, py], fill=_IDEAL)
        if "geometry" in s:
            geo = [(px + x * pw, py + ph - min(max(0.0, y), 1.0) * ph)
                   for x, y in zip(s["requested"], s["geometry"]["measured"])]
            d.line(geo, fill=_GEOMETRY, width=1)
        pts = [(px + x * pw, py + ph - max(0.0, y) * ph) for x, y in zip(s["requested"], s["measured"]) if y >= 0]
        if len(pts) > 1:
            d.line(pts, fill=_GOOD if s.get("passes", True) else _BAD, width=2)
    # identity over time
    y0 = rows * PANEL_PX + 10
    goal = metrics["identity"]["goal"]
    goal_text = f"; goal <= {goal}" if goal is not None else ""
    d.text((6, y0), f"identity distance per frame ({metrics.get('identity_model')}{goal_text})", fill=_AXIS)
    legend = [("response panels: closed loop (green: meets the goals, red: not)", _GOOD),
              ("geometry channel", _GEOMETRY), ("ideal", _IDEAL)]
    x = 330
    for text, colour in legend:
        d.line([x, y0 + 6, x + 16, y0 + 6], fill=colour, width=2)
        d.text((x + 20, y0), text, fill=_AXIS)
        x += 30 + 6 * len(text)
    top, h = y0 + 30, ident_h - 52
    left, plot_w = 36, width - 48
    scale_max = 0.8
    n = max(1, len(identity) - 1)
    step = max(1, int(10 ** np.floor(np.log10(n))) // (2 if n / 10 ** np.floor(np.log10(n)) < 3 else 1))
    _axes(d, left, top, plot_w, h, xticks=range(0, n + 1, step), yticks=(0, 0.2, 0.4, 0.6, 0.8),
          xlabel="frame", ylabel="distance", x_max=n, y_max=scale_max)
    if goal is not None:
        gy = top + h - goal / scale_max * h
        d.line([left, gy, left + plot_w, gy], fill=_IDEAL)
    finite = np.where(np.isfinite(identity), identity, scale_max)
    if len(finite) > 1:
        xs = np.linspace(left, left + plot_w, len(finite))
        ys = top + h - np.clip(finite, 0, scale_max) / scale_max * h
        ok = metrics["identity"].get("passes", True)
        d.line(list(zip(xs.tolist(), ys.tolist())), fill=_GOOD if ok else _BAD, width=2)
    img.paste(Image.fromarray(sheet), (0, rows * PANEL_PX + ident_h + 30))
    return np.asarray(img)
