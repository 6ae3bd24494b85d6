"""The reference cubes the museum uses, and the edge length assumed for each (a documented parameter).

The edge is an open question for one kind. The reference doc gives 1.27 cm (upstream's constant) for
the grey metal cube, and its printed 10 mm ruler is visibly shorter than the face, which fits. The black
cube is engraved "1 CM", so it may be a 1 cm cube; nothing public settles it. Sizes measured with an
`engraved` cube therefore carry that uncertainty (a 1.27 cm edge would make them 27 % larger); the
kind found is reported per photo (`cube_kind`), so they can be rescaled once the edge is known.
"""

from __future__ import annotations

from types import MappingProxyType

GREY = "grey_1cm"        # grey metal cube printed "1cm", a millimetre ruler ("10mm") on its top face
ENGRAVED = "engraved"    # black cube with engraved white "T.", "1 CM", "S."
PRINTED_BAR = "printed_bar"  # cube with a printed "1 cm" and bar (the scale is read from the bar)

EDGE_CM = MappingProxyType({GREY: 1.27, PRINTED_BAR: 1.27, ENGRAVED: 1.0})  # cm; ENGRAVED is the open question


def edge_cm(kind: str, overrides: dict | None = None) -> float:
    """Edge length in cm of a cube `kind`; `overrides` (kind -> cm) wins. Unknown kinds raise ValueError."""
    table = {**EDGE_CM, **(overrides or {})}
    if kind not in table:
        raise ValueError(f"unknown cube kind {kind!r}; choose from {sorted(table)}")
    return float(table[kind])
