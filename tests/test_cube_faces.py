"""The cube's front face: split off the side and top faces of its silhouette, and the grey cube's 10 mm
ruler read as a scale bar with its "1cm" above (drawn test cubes with exact geometry)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from minerals.size import scalebar
from minerals.size.silhouette import front_face


@pytest.mark.parametrize("side_on_right", [True, False])
def test_front_face_splits_off_side_and_top(side_on_right):
    L = np.full((120, 120), 200, np.float32)  # white backdrop
    x0, y0 = 30, 20
    L[y0:y0 + 8, x0:x0 + 40] = 150  # top face, seen from above
    front, side = (slice(x0, x0 + 32), slice(x0 + 32, x0 + 40)) if side_on_right else \
        (slice(x0 + 8, x0 + 40), slice(x0, x0 + 8))
    L[y0 + 8:y0 + 40, front] = 60  # front face: 32 px edge
    L[y0 + 8:y0 + 40, side] = 100  # side face, in perspective
    fx0, fy0, fx1, fy1 = front_face(L, (x0, y0, x0 + 40, y0 + 40))
    assert fx1 - fx0 == pytest.approx(32, abs=1) and fy1 - fy0 == pytest.approx(32, abs=1)
    assert (fx0 == pytest.approx(x0, abs=1)) == side_on_right


def test_a_plain_silhouette_is_its_own_front_face():
    L = np.full((80, 80), 200, np.float32)
    L[20:50, 20:50] = 90
    assert front_face(L, (20, 20, 50, 50)) == (20, 20, 50, 50)


def test_grey_cube_ruler_is_a_bar_with_the_text_above():
    """A 48-px grey face: "1cm" at 45 % of its height, a 10 mm ruler (37.8 px) at 70 % (as on the museum's cube)."""
    k, c = 4, 48
    img = np.full((200 * k, 240 * k, 3), 170, np.uint8)
    x0, y0 = 100, 80
    cv2.rectangle(img, (x0 * k, y0 * k), ((x0 + c) * k, (y0 + c) * k), (120, 120, 122), -1)
    length, ry = c / 1.27, y0 + 0.70 * c
    rx0, rx1 = x0 + (c - length) / 2, x0 + (c + length) / 2
    ink = (30, 30, 30)
    cv2.line(img, (round(rx0 * k), round(ry * k)), (round(rx1 * k), round(ry * k)), ink, k)
    for x in (rx0, rx1):  # end ticks
        cv2.line(img, (round(x * k), round((ry - 3) * k)), (round(x * k), round((ry + 3) * k)), ink, k)
    cv2.putText(img, "1cm", (round((x0 + 12) * k), round((y0 + 0.5 * c) * k)), cv2.FONT_HERSHEY_SIMPLEX,
                c * k / 110, ink, k)
    img = cv2.resize(img, (240, 200), interpolation=cv2.INTER_AREA)
    bars = scalebar.find_bars(cv2.cvtColor(img, cv2.COLOR_RGB2LAB), [])
    assert bars, "no bar found"
    bar = bars[0]
    assert bar.row == scalebar.RULER_ROW
    assert bar.length_px == pytest.approx(length, rel=0.05)
    fx0, fy0, fx1, fy1 = bar.face_box()
    assert (fx0, fy0, fx1, fy1) == pytest.approx((x0, y0, x0 + c, y0 + c), abs=2.5)
