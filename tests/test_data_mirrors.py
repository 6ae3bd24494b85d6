"""The Hugging Face parquet mirror read from a small local folder written here."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from torch.utils.data import DataLoader

from minerals.data import ImageError, LayoutError
from minerals.data.mirrors import open_hf_mirror

NAMES = ["Quartz", "Agate", "Pyrite"]


def _jpeg(value: int, size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def _write(path, labels, class_label=True, row_group_size=2, broken=None):
    images = [{"bytes": b"junk" if i == broken else _jpeg(10 * i), "path": f"{i}.jpg"} for i in range(len(labels))]
    boxes = [json.dumps([{"label": "a stone", "confidence": 0.2, "box": [0, 0, 1, 1]}])] * len(labels)
    table = pa.table({"image": images, "name": labels if class_label else [NAMES[i] for i in labels],
                      "description": ["12x8 cm."] + [None] * (len(labels) - 1), "mineral_boxes": boxes})
    if class_label:
        meta = {"info": {"features": {"name": {"names": NAMES, "_type": "ClassLabel"}}}}
        table = table.replace_schema_metadata({b"huggingface": json.dumps(meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size)


@pytest.fixture
def mirror_dir(tmp_path):
    _write(tmp_path / "data" / "train-00000-of-00001.parquet", [0, 1, 2, 0, 1])
    _write(tmp_path / "data" / "validation-00000-of-00001.parquet", [2, 1])
    _write(tmp_path / "data" / "test-00000-of-00001.parquet", [0, 2], broken=1)
    return tmp_path


def test_index_and_class_labels(mirror_dir):
    mirror = open_hf_mirror(mirror_dir)
    assert mirror.classes == ["Agate", "Pyrite", "Quartz"]
    assert mirror.frame["split"].value_counts().to_dict() == {"train": 5, "val": 2, "test": 2}
    train = mirror.dataset("train")
    assert list(train.frame["en_name"]) == ["Quartz", "Agate", "Pyrite", "Quartz", "Agate"]
    assert list(train.frame["row_group"]) == [0, 0, 1, 1, 2]
    assert train.frame["mineral_boxes"][0][0]["label"] == "a stone" and train.frame["description"][0] == "12x8 cm."
    image, label = train[3]
    assert image.mode == "RGB" and label == 2 and np.asarray(image)[0, 0, 0] == pytest.approx(30, abs=3)


def test_string_names_and_dataloader(tmp_path):
    _write(tmp_path / "train" / "part-0.parquet", [0, 1, 2, 2], class_label=False)
    mirror = open_hf_mirror(tmp_path)
    ds = mirror.dataset("all", transform=lambda im: np.asarray(im).mean(), max_side=20)
    values = [v for batch, _ in DataLoader(ds, batch_size=2, num_workers=2) for v in batch.tolist()]
    assert values == pytest.approx([0, 10, 20, 30], abs=3)


def test_bad_rows_and_folders(mirror_dir, tmp_path):
    test = open_hf_mirror(mirror_dir).dataset("test")
    with pytest.raises(ImageError, match=r"test-00000-of-00001.parquet row 0:1: not a readable image"):
        test[1]
    with pytest.raises(LayoutError, match="no .parquet files.*Nech-C/mineralimage5K-98"):
        open_hf_mirror(tmp_path / "empty")
    pq.write_table(pa.table({"name": [1]}), mirror_dir / "extra-0.parquet")
    with pytest.raises(LayoutError, match="extra-0.parquet: cannot tell its split"):
        open_hf_mirror(mirror_dir)
