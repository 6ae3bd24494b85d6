"""The benchmark: official splits as files, scoring of anyone's predictions, a leaderboard.

- `splits.split_frame(release, task, ...)`: the photos a submission must predict (`minerals data split`).
- `evaluate(task, predictions, release, ...)`: a result record with the sections' metrics
  (`minerals evaluate`), the split's hash, the data fingerprint and the predictions' sha256.
- `export`: the sections write their own predictions in the submission formats (round trip).
- `leaderboard`: result records beside our baselines with paired tests; `byom`: score any callable.
"""

from minerals.benchmark.formats import SubmissionError
from minerals.benchmark.scoring import evaluate

__all__ = ["SubmissionError", "evaluate"]
