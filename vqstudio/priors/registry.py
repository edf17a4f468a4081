"""The priors VQ Studio knows: one table, read by the CLI, the GUI, the settings, config loading,
`store.build_prior` and generation.

Each built-in entry names its prior's config and model classes as "module:Class", imported on
first use, so this table (and the `--prior` choices built from it) never loads torch.

Adding a prior: write one module holding its config and its model (they follow
`config.PriorConfig` and `config.PriorModel`; see `autoregressive` or `diffusion`), then add
one `register_prior` line below; code outside the package (a plugin, a test) calls
`register_prior` with the classes themselves. Nothing else in VQ Studio names a prior.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PRIORS", "PRIOR_NAMES", "PriorKind", "prior_kind", "register_prior", "unregister_prior"]


@dataclass(frozen=True)
class PriorKind:
    """One prior: its name (`--prior NAME`, `kind` in its config), a title for the GUI, and its
    config and model classes (or where they live, as "module:Class")."""

    name: str
    title: str
    config_ref: type | str
    model_ref: type | str

    @property
    def config(self) -> Any:
        """The config class (`config.PriorConfig`)."""
        return _load(self.config_ref)

    @property
    def model(self) -> Any:
        """The model class (`config.PriorModel`): `model(config)` builds a fresh prior."""
        return _load(self.model_ref)


def _load(ref: type | str) -> Any:
    if not isinstance(ref, str):
        return ref
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


PRIORS: dict[str, PriorKind] = {}  # by name, in registration order


class _Names(Sequence[str]):
    """The registered names, read from `PRIORS` each time: `--prior`'s choices and the settings'
    check see a prior registered after they were imported."""

    def __getitem__(self, index: Any) -> Any:
        return tuple(PRIORS)[index]

    def __len__(self) -> int:
        return len(PRIORS)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(PRIORS))

    def __contains__(self, name: object) -> bool:
        return name in PRIORS

    def __repr__(self) -> str:
        return repr(tuple(PRIORS))


PRIOR_NAMES: Sequence[str] = _Names()  # the first is the default


def register_prior(name: str, config: type | str, model: type | str, title: str | None = None) -> PriorKind:
    """Adds prior `name` with its config and model classes (or "module:Class" paths, imported on
    first use); `ValueError` when the name is not a plain word, is taken by another prior, or
    differs from the config class's `kind`."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"a prior's name must be a plain word (--prior {name!r} is not)")
    kind = PriorKind(name, title or name, config, model)
    if PRIORS.get(name, kind) != kind:
        raise ValueError(f"a prior named {name!r} is registered already")
    declared = None if isinstance(config, str) else getattr(config, "kind", None)
    if declared is not None and declared != name:
        raise ValueError(f"prior {name!r}: its config's kind is {declared!r}; they must be the same")
    PRIORS[name] = kind
    return kind


def unregister_prior(name: str) -> None:
    """Removes prior `name` (a plugin unloaded, a test done); the built-in ones stay."""
    if name in _BUILT_IN:
        raise ValueError(f"{name!r} is built in and cannot be removed")
    PRIORS.pop(name, None)


def prior_kind(name: str) -> PriorKind:
    """The registry entry of prior `name`; `ValueError` naming the known ones otherwise."""
    if name not in PRIORS:
        raise ValueError(f"unknown prior {name!r}; choose one of {', '.join(PRIOR_NAMES)}")
    return PRIORS[name]


# The built-in priors; the first is the default.
register_prior(
    "diffusion",
    "vqstudio.priors.diffusion:DiffusionConfig",
    "vqstudio.priors.diffusion:DiffusionDenoiser",
    "latent diffusion",
)
register_prior(
    "autoregressive",
    "vqstudio.priors.autoregressive:AutoregressiveConfig",
    "vqstudio.priors.autoregressive:AutoregressivePrior",
    "autoregressive",
)
_BUILT_IN = frozenset(PRIORS)
