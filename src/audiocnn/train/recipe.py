"""Recipe files and the resolution of a training configuration.

A recipe is a TOML, YAML or JSON file of :class:`~audiocnn.train.TrainConfig` fields::

    # recipe.toml
    model = "cnn14"
    epochs = 40
    optimizer = "adam"
    eval_windows = "auto"          # the words of a flag are accepted as well as the values
    [model_kwargs]
    spec_augment = false

It may also name the data it was made for (``data``, ``dataset``, ``folds``, ``group_column``,
``max_folds``, ``skip_bad``, ``recipe``: ``cnn`` or ``auto``). A ``run.json`` written by ``audiocnn train`` is a recipe too: its
``config`` section is the configuration of the run and its top level names the data, so
``audiocnn train --config RUN/run.json`` replays the run.

:func:`resolve_config` builds the configuration of a run from, lowest first: the defaults, a
preset (:mod:`audiocnn.train.presets`), a recipe file, and the values given explicitly (flags).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from audiocnn.atomic import write_text_atomic
from audiocnn.errors import UsageError
from audiocnn.train.config import TrainConfig
from audiocnn.train.options import check_value, config_options
from audiocnn.train.presets import preset_values

__all__ = ["RECIPE_SUFFIXES", "RUN_KEYS", "Recipe", "read_recipe", "resolve_config", "write_recipe"]

RECIPE_SUFFIXES = (".toml", ".yaml", ".yml", ".json")
# what a recipe may say about the data and the fold protocol besides the configuration
RUN_KEYS = ("data", "dataset", "folds", "group_column", "max_folds", "skip_bad", "recipe")


@dataclass(frozen=True)
class Recipe:
    """A recipe file as read: ``config`` holds checked field values, ``run`` the data keys."""

    path: str
    config: dict = field(default_factory=dict)
    run: dict = field(default_factory=dict)


def _load(path: Path) -> dict:
    suffix = path.suffix.lower()
    if suffix not in RECIPE_SUFFIXES:
        raise UsageError(f"{path}: a recipe is a {', '.join(RECIPE_SUFFIXES)} file")
    text = path.read_text(encoding="utf-8")
    try:
        if suffix == ".toml":
            import tomllib

            doc = tomllib.loads(text)
        elif suffix == ".json":
            doc = json.loads(text)
        else:
            try:
                import yaml
            except ImportError:
                raise UsageError(f"{path}: reading YAML recipes needs the pyyaml package (pip install pyyaml)") from None
            doc = yaml.safe_load(text) or {}
    except UsageError:
        raise
    except Exception as e:  # noqa: BLE001 - each parser has its own error type
        raise UsageError(f"{path}: not a valid {suffix[1:].upper()} file ({e})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: a recipe is a table of settings, got {type(doc).__name__}")
    return doc


def read_recipe(path: str | os.PathLike) -> Recipe:
    """Read and check a recipe file (see the module docstring).

    A file whose ``config`` entry is a table (``run.json``, ``metrics.json``) is read as a record
    of a run: its ``config`` holds the fields, and entries that are not fields (what the run
    measured) are skipped. In any other file an entry that is neither a field nor a data key is
    an error, as is a value of the wrong type or out of range; the message names the file and
    the entry.
    """
    path = Path(path)
    doc = _load(path)
    record = isinstance(doc.get("config"), dict)
    values = doc["config"] if record else {k: v for k, v in doc.items() if k not in RUN_KEYS}
    options = {f.name: (opt, hint) for f, opt, hint in config_options(TrainConfig)}
    unknown = sorted(k for k in values if k not in options)
    if unknown and not record:
        raise UsageError(f"{path}: unknown setting(s) {', '.join(unknown)}; the settings are the TrainConfig fields "
                         f"({', '.join(options)}) and {', '.join(RUN_KEYS)}")
    config = {}
    for name, value in values.items():
        if name not in options:
            continue
        if value is None and record:  # JSON null: the field's automatic choice
            config[name] = None
            continue
        try:
            config[name] = check_value(name, *options[name], value)
        except ValueError as e:
            raise UsageError(f"{path}: {e}") from None
    return Recipe(str(path), config, {k: doc[k] for k in RUN_KEYS if k in doc})


def _check_model_kwargs(model: str, kwargs: dict, source: str) -> None:
    from audiocnn.models.arguments import model_arguments

    accepted = model_arguments(model)
    bad = sorted(k for k in kwargs if k not in accepted)
    if bad:
        raise UsageError(f"{source}: model {model!r} has no argument(s) {', '.join(bad)}; "
                         f"its arguments are: {', '.join(sorted(accepted)) or '(none)'}")


def resolve_config(
    values: dict | None = None,
    *,
    model_args: Sequence[str] = (),
    preset: str | None = None,
    recipe: Recipe | str | os.PathLike | None = None,
    model_kwargs: dict | None = None,
) -> TrainConfig:
    """The configuration of a run: the defaults, then ``preset``, then ``recipe``, then ``values``.

    Args:
        values: field values given explicitly (the flags of ``audiocnn train``).
        model_args: ``KEY=VALUE`` strings (``--model-arg``), typed by the signature of the
            resolved model (:func:`audiocnn.models.arguments.parse_model_args`).
        preset: a name of :data:`~audiocnn.train.presets.PRESETS`.
        recipe: a :class:`Recipe` or the path of a recipe file.
        model_kwargs: model arguments that are already typed (``--init``); they win over all.

    ``model_kwargs`` of the preset, the recipe, ``model_args`` and ``model_kwargs`` are merged in
    that order, key by key. Raises :class:`~audiocnn.errors.UsageError` for an unknown preset,
    a bad recipe, a model argument the model does not take or that does not convert.
    """
    if recipe is not None and not isinstance(recipe, Recipe):
        recipe = read_recipe(recipe)
    merged: dict = {}
    kwargs: dict = {}
    sources = []
    if preset:
        try:
            layer = preset_values(preset)
        except ValueError as e:
            raise UsageError(str(e)) from None
        sources.append(("--preset " + preset, layer))
    if recipe is not None:
        sources.append((recipe.path, dict(recipe.config)))
    sources.append(("the command line", dict(values or {})))
    origin = {}
    for source, layer in sources:
        layer_kwargs = layer.pop("model_kwargs", None) or {}
        kwargs.update(layer_kwargs)
        origin.update({k: source for k in layer_kwargs})
        merged.update(layer)
    model = merged.get("model", TrainConfig.model)
    for source in dict.fromkeys(origin.values()):
        _check_model_kwargs(model, {k: v for k, v in kwargs.items() if origin[k] == source}, source)
    if model_args:
        from audiocnn.models.arguments import parse_model_args

        try:
            kwargs.update(parse_model_args(model, list(model_args)))
        except ValueError as e:
            raise UsageError(f"--model-arg: {e}") from None
    kwargs.update(model_kwargs or {})
    return TrainConfig(**merged, model_kwargs=kwargs)


def write_recipe(config: TrainConfig, path: str | os.PathLike) -> Path:
    """Write ``config`` as a recipe file (TOML needs the tomli-w package; YAML pyyaml). Fields
    that are ``None`` (automatic choices) are left out of TOML, which has no null."""
    path = Path(path)
    d = config.to_dict()
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(d, indent=1) + "\n"
    elif suffix == ".toml":
        try:
            import tomli_w
        except ImportError:
            raise UsageError(f"{path}: writing TOML needs the tomli-w package (pip install tomli-w)") from None
        text = tomli_w.dumps({k: v for k, v in d.items() if v is not None})
    elif suffix in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(d, sort_keys=False)
    else:
        raise UsageError(f"{path}: a recipe is a {', '.join(RECIPE_SUFFIXES)} file")
    write_text_atomic(path, text)
    return path
