"""Run profiles as data: `smoke` (CPU, synthetic data, minutes) and `paper` (GPU, the real release).

A profile is a TOML file in `minerals/resources/profiles/`. Each top-level table is one section's
settings; section modules turn their table into their own config dataclass.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from typing import Iterable

PROFILE_DIR = "resources/profiles"


class ProfileError(ValueError):
    """An unknown profile name or a malformed profile file."""


def available_profiles() -> list[str]:
    """Names of the profiles shipped with the package, sorted."""
    folder = resources.files("minerals").joinpath(PROFILE_DIR)
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


@dataclass(frozen=True)
class Profile:
    """A named set of section settings."""

    name: str
    settings: dict = field(default_factory=dict)

    @property
    def description(self) -> str:
        return self.settings.get("description", "")

    def section(self, name: str) -> dict:
        """The settings table of one section (`data`, `fewshot`, ...); empty when absent."""
        value = self.settings.get(name, {})
        if not isinstance(value, dict):
            raise ProfileError(f"profile {self.name!r}: [{name}] must be a table, got {type(value).__name__}")
        return dict(value)


def load_profile(name: str) -> Profile:
    """Load a shipped profile by name; raises ProfileError listing the known names."""
    known = available_profiles()
    if name not in known:
        raise ProfileError(f"unknown profile {name!r}; choose one of: {', '.join(known)}")
    path = resources.files("minerals").joinpath(f"{PROFILE_DIR}/{name}.toml")
    try:
        settings = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    return Profile(name=name, settings=settings)


def section_values(cls, section: dict, name: str, overrides: dict | None = None, extra: Iterable[str] = (),
                   error: type[Exception] = ProfileError) -> dict:
    """Keyword arguments for the config dataclass `cls` from a profile's `[name]` table.

    Non-None `overrides` win over the table; lists become tuples; keys in `extra` are allowed and
    dropped (read elsewhere). An unknown key raises `error` naming it and the known ones.
    """
    known = {f.name for f in fields(cls)}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted((set(section) - set(extra) | set(overrides)) - known)
    if unknown:
        raise error(f"[{name}] unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values = {k: v for k, v in {**section, **overrides}.items() if k in known}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
