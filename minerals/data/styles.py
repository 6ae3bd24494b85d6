"""Named synthetic photo styles (overrides of `SynthStyle`) for evaluations that cannot be tuned to one look.

`STYLES` maps a name to the `SynthStyle` fields it overrides (`default` overrides none). Sections choose
thresholds and defaults on some styles and report on the others (leave-one-style-out); `style_release`
renders a small release of one style into the cache, once.
"""

from __future__ import annotations

from pathlib import Path

STYLES = {
    "default": {},
    "dark_colour_front": {"backdrops": {"dark": 0.5, "colour": 0.5}, "gradient": [0.2, 0.45],
                          "cube_frac": [0.07, 0.15], "cube_placement": {"front": 1.0}, "cube_azimuth": [-0.3, 0.3],
                          "cube_elevation": [0.25, 0.45], "shadow_strength": [0.35, 0.6], "exposure": [0.75, 1.2],
                          "grain": [3.0, 6.0], "perspective": 0.05, "jpeg_quality": [70, 85]},
    "pale_cards_stands": {"backdrops": {"white": 0.6, "grey": 0.4}, "cube_grey": [120, 180], "card_probability": 0.9,
                          "light_azimuth": [20.0, 80.0], "specimen_frac": [0.3, 0.6],
                          "aspects": {"3:2": 0.5, "1:1": 0.5}, "stand_probability": 0.4},
    "grey_low_key": {"backdrops": {"grey": 0.5, "dark": 0.5}, "exposure": [0.6, 0.9], "light_elevation": [15.0, 35.0],
                     "shadow_strength": [0.4, 0.7], "grain": [2.0, 5.0], "cube_grey": [70, 120],
                     "horizon_probability": 0.6},
    "colour_sweep_tilted": {"backdrops": {"colour": 0.7, "white": 0.3}, "gradient": [0.3, 0.5], "perspective": 0.06,
                            "specimen_frac": [0.6, 0.85], "light_azimuth": [30.0, 150.0], "colour_cast": 0.1,
                            "jpeg_quality": [60, 80]},
    "small_far_specimen": {"backdrops": {"white": 0.5, "grey": 0.5}, "specimen_frac": [0.25, 0.45],
                           "cube_frac": [0.05, 0.09], "cube_placement": {"side": 1.0}, "aspects": {"3:4": 0.5, "4:3": 0.5},
                           "horizon_probability": 0.7, "card_probability": 0.8},
    "engraved_pale_sweep": {"cube_kinds": {"engraved": 1.0}, "backdrops": {"white": 0.6, "grey": 0.4},
                            "gradient": [0.2, 0.45], "cube_frac": [0.05, 0.11], "cube_elevation": [0.25, 0.5],
                            "cube_azimuth": [-0.35, 0.35], "cube_placement": {"side": 0.4, "far": 0.35, "card": 0.25},
                            "card_probability": 0.6, "light_elevation": [40.0, 75.0]},
    "grey_ruler_dark": {"cube_kinds": {"grey_1cm": 1.0}, "backdrops": {"dark": 0.75, "colour": 0.25},
                        "cube_grey": [100, 160], "cube_elevation": [0.2, 0.45],
                        "cube_placement": {"card": 0.4, "side": 0.4, "far": 0.2}, "card_probability": 0.75,
                        "shadow_strength": [0.3, 0.6], "exposure": [0.8, 1.15], "jpeg_quality": [72, 90]},
}
"""engraved_pale_sweep: only black engraved 1 cm cubes, seen more from above, on white or grey sweeps with strong
gradients, often far from the specimen or beside its card; grey_ruler_dark: only grey metal cubes with rulers,
on dark or coloured backdrops, often beside a label card."""


def style_release(style: str, n_size: int = 1, n_segm: int = 1, image_size: int = 512, seed: int = 101) -> Path:
    """A synthetic release of one of `STYLES` with `n_size` size photos and `n_segm` segmentation pairs
    (exact masks), generated once into the cache and reused; ValueError names an unknown style."""
    from minerals.cache import cache_dir
    from minerals.data.synth import ensure_synthetic
    from minerals.results import key_hash

    if style not in STYLES:
        raise ValueError(f"unknown synthetic style {style!r}; choose from {', '.join(STYLES)}")
    params = {"classes": 3, "per_class": max(4, n_size // 3), "image_size": image_size, "seed": seed,
              "n_size": n_size, "n_segm": n_segm, "style": STYLES[style]}
    return ensure_synthetic(cache_dir() / "synthetic" / f"style-{style}-{key_hash(params)}", **params)
