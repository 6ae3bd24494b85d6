"""Zero-shot CLIP section: prompts, text classifiers, scoring, linear probes."""
