"""Class-activation maps: CAM methods, CAM -> mask rules, the segmentation section."""
