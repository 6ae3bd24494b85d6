"""Class-activation maps: CAM methods, CAM -> mask rules, the segmentation section, the cross-style sweep.

The default pipeline of `minerals segment` and identify was chosen across synthetic styles
(`minerals.cam.sweep`, `benchmarks/bench_cam_styles.py`); the paper's GradCAM + Otsu stays one flag away.
"""

DEFAULT_BACKBONE = "imagenet:tf_efficientnet_lite0"
DEFAULT_METHOD, DEFAULT_THRESHOLD = "eigencam", "otsu+grabcut"
PAPER_METHOD, PAPER_THRESHOLD = "gradcam", "otsu"
