"""Zero-shot specimen size from the 1.27 cm reference cube: the upstream baseline and an improved estimator.

    from minerals.size import SizeConfig, predict, measure
    preds = predict(["photo.jpg", "folder/"], method="improved")   # path,size_cm,cm_per_px,cube_side_px,confidence,status
    est = measure(rgb_array, "improved", SizeConfig())             # one SizeEstimate

Modules: `result` (SizeEstimate, SizeConfig), `baseline` (upstream), `improved`, `backdrop`, `cube`,
`scalebar`, `silhouette` (cube candidates), `ocr` (the cube's text), `kinds` (cube kinds and edges),
`cards` (label cards), `predict` (files -> rows, overlays), `overlay`, `evaluate` (metrics, `size` table),
`realphotos` (the real-photo test set).
"""

from minerals.size.evaluate import error_by_size, evaluate_release, summarise
from minerals.size.predict import COLUMNS, Photo, measure, predict, write_predictions
from minerals.size.result import CUBE_EDGE_CM, METHODS, SizeConfig, SizeEstimate

__all__ = ["COLUMNS", "CUBE_EDGE_CM", "METHODS", "Photo", "SizeConfig", "SizeEstimate", "error_by_size",
           "evaluate_release", "measure", "predict", "summarise", "write_predictions"]
