"""What a notebook calls first: resolve the profile, data, device and results folder of one run."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from minerals import results, runtime
from minerals.cache import cache_dir
from minerals.pipeline.registry import notebook_registry
from minerals.profiles import Profile, load_profile


# The book's content column at a 1280 px window (sphinx-book-theme, measured in Chromium) and the smallest
# text a figure may show there, in CSS points; `start` sets matplotlib's defaults to fit them.
BOOK_COLUMN_PX = 688
MIN_TEXT_PT = 9
BOOK_STYLE = {"figure.dpi": 100, "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10,
              "xtick.labelsize": 9.5, "ytick.labelsize": 9.5, "legend.fontsize": 9.5, "figure.titlesize": 11}


class SessionError(RuntimeError):
    """A notebook run cannot start or finish (missing data, undeclared or missing outputs, unreadable figures)."""


def resolve_data_root(profile: Profile, data_root: str | os.PathLike | None) -> Path:
    """The data root of a run: the given folder, or the profile's default.

    The `synthetic` source generates the synthetic release once under the cache and reuses it; the
    `real` source has no default and says how to get the release.
    """
    if data_root:
        root = Path(data_root).expanduser().resolve()
        if not root.is_dir():
            raise SessionError(f"data root {root} does not exist; run `minerals data download --root {root}` "
                               "or pass the folder that holds minerals_full.csv")
        return root
    data = profile.section("data")
    if data.get("source") == "synthetic":
        from minerals.data.synth import ensure_synthetic

        params = {k: v for k, v in data.items() if k != "source"}
        return ensure_synthetic(cache_dir() / "synthetic" / results.key_hash(params), **params)
    raise SessionError(f"profile {profile.name!r} reads the real MineralImage5k release and no data root was "
                       "given: download it with `minerals data download --root DIR` (or use the Kaggle mirror "
                       "sergeynesteruk/minerals) and pass --data-root DIR")


@dataclass
class Session:
    """One notebook run: settings, where results go, and the record written at the end."""

    notebook: str
    profile: Profile
    data_root: Path
    device: str
    seed: int
    results_dir: Path
    started: float = field(default_factory=time.perf_counter)
    written: set = field(default_factory=set)
    linked: set = field(default_factory=set)

    @property
    def root(self) -> Path:
        """`results/<profile>`."""
        return self.results_dir / self.profile.name

    @cached_property
    def release(self):
        """The opened data release (`minerals.data.open_release`)."""
        from minerals.data import open_release

        return open_release(self.data_root)

    def store(self, section: str) -> results.RunStore:
        """Run records of one section, under `runs/<section>/`."""
        return results.RunStore(self.root / "runs" / section, device=self.device)

    def artifacts(self, section: str) -> Path:
        """Folder for a section's checkpoints and caches."""
        path = self.root / "artifacts" / section
        path.mkdir(parents=True, exist_ok=True)
        return path

    def save_table(self, table_id: str, df) -> Path:
        """Write `tables/<id>.csv` atomically and return its path."""
        path = self.root / "tables" / f"{table_id}.csv"
        with results.atomic_write(path) as tmp:
            df.to_csv(tmp, index=False)
        self.written.add(("tables", table_id))
        return path

    def save_figure(self, figure_id: str, fig, dpi: int = 120) -> Path:
        """Write `figures/<id>.png` atomically and return its path.

        Raises SessionError, writing nothing, when a text of the figure would read below MIN_TEXT_PT in the
        book's column (`small_text`).
        """
        small = small_text(fig)
        if small:
            raise SessionError(f"figure {figure_id!r} of notebook {self.notebook} ({fig.get_figwidth():.1f} in wide) has "
                               f"{len(small)} text(s) below {MIN_TEXT_PT} pt at the book's {BOOK_COLUMN_PX} px column: "
                               f"{'; '.join(small[:4])}; make the figure narrower (6.8 in fits) or the text larger")
        path = self.root / "figures" / f"{figure_id}.png"
        with results.atomic_write(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
        self.written.add(("figures", figure_id))
        return path

    def link(self, path: Path) -> str:
        """The address, from a book page, of a file under `results/<profile>/`; the file is listed in the run
        record and the book build copies every listed file next to the pages, so the link works when published."""
        relative = Path(path).resolve().relative_to(self.root).as_posix()
        self.linked.add(relative)
        return f"../results/{relative}"

    def download(self, path: Path, text: str):
        """An HTML download link (IPython display object) to a file under `results/<profile>/` (see `link`)."""
        from html import escape

        from IPython.display import HTML

        return HTML(f'<p><a class="download-link" href="{escape(self.link(path))}" download>{escape(text)}</a></p>')

    def table_download(self, table_id: str, text: str | None = None):
        """A download link to the full table `tables/<id>.csv` (see `download`)."""
        return self.download(self.root / "tables" / f"{table_id}.csv", text or f"Full table {table_id} (CSV)")

    def banner(self) -> str:
        """A one-line Markdown provenance note for the top of a page."""
        return (f"**Profile** `{self.profile.name}` · **device** `{self.device}` · **seed** {self.seed} · "
                f"**commit** `{results.git_commit()}` · **data** `{self.data_root.name}`")

    def finish(self) -> Path:
        """Check the declared outputs were written and write `runs/notebooks/<id>.json`."""
        declared = notebook_registry().get(self.notebook, {})
        missing = [f"{kind}/{name}" for kind in ("tables", "figures") for name in declared.get(kind, [])
                   if (kind, name) not in self.written]
        if missing:
            raise SessionError(f"notebook {self.notebook} did not write its declared outputs: {', '.join(missing)}")
        record = {"notebook": self.notebook, "profile": self.profile.name, "data_root": str(self.data_root),
                  "seed": self.seed, "config": self.profile.settings,
                  "wall_s": round(time.perf_counter() - self.started, 3),
                  "outputs": sorted(f"{k}/{n}" for k, n in self.written), "links": sorted(self.linked),
                  **results.provenance(self.device)}
        path = self.root / "runs" / "notebooks" / f"{self.notebook}.json"
        results.write_json(path, record)
        return path


def start(notebook: str, profile: str = "smoke", data_root: str | None = "", device: str = "",
          seed: int = 0, results_dir: str | os.PathLike = "results") -> Session:
    """Begin a notebook run (an id of resources/notebooks.toml): see `open_session`."""
    if notebook not in notebook_registry():
        raise SessionError(f"unknown notebook id {notebook!r}; see minerals/resources/notebooks.toml")
    import matplotlib

    matplotlib.rcParams.update(BOOK_STYLE)
    return open_session(notebook, profile, data_root, device, seed, results_dir)


def small_text(fig, column_px: int = BOOK_COLUMN_PX, min_pt: float = MIN_TEXT_PT) -> list[str]:
    """Drawn texts of a matplotlib figure that read below `min_pt` CSS points when the figure, cropped as
    `bbox_inches="tight"` crops it, is shown at most `column_px` wide (at its own dpi when narrower), as
    `'text' (size pt)`. Tick and axis labels of axes turned off (`ax.axis("off")`) are not drawn: skipped."""
    import matplotlib
    from matplotlib.text import Text

    fig.draw_without_rendering()  # tick labels get their text at draw time
    width_in = fig.get_tightbbox().width + 2 * matplotlib.rcParams["savefig.pad_inches"]
    shown_px_per_in = min(fig.dpi, column_px / width_in)
    hidden = {id(t) for ax in fig.get_axes() if not ax.axison for axis in (ax.xaxis, ax.yaxis)
              for t in [*axis.get_ticklabels(which="both"), axis.label, axis.get_offset_text()]}
    found = []
    for text in fig.findobj(Text):
        label = text.get_text().strip()
        if (not label or not text.get_visible() or id(text) in hidden
                or (text.axes is not None and not text.axes.get_visible())):
            continue
        shown_pt = text.get_fontsize() * shown_px_per_in / 96  # 96 CSS px per inch, 72 pt per inch
        if shown_pt < min_pt:
            found.append(f"{label[:30]!r} ({shown_pt:.1f} pt)")
    return found


def open_session(name: str, profile: str = "smoke", data_root: str | None = "", device: str = "",
                 seed: int = 0, results_dir: str | os.PathLike = "results") -> Session:
    """Load the profile, seed, resolve the device and the data root; `name` labels the run (e.g. `cli:fewshot`).

    Raises ProfileError or SessionError (unknown profile, missing data, CUDA asked for but absent).
    """
    prof = load_profile(profile)
    runtime.pin_cpu(prof.settings)  # before anything loads torch; warns when it is too late
    device = device or prof.settings.get("device", "cpu")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise SessionError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    runtime.seed_everything(seed, prof.settings.get("threads"))
    return Session(notebook=name, profile=prof, data_root=resolve_data_root(prof, data_root), device=device,
                   seed=int(seed), results_dir=Path(results_dir).expanduser().resolve())
