"""One entry point for a training run, whatever its kind: :func:`run_training`.

``audiocnn train`` resolves its configuration (:func:`audiocnn.train.recipe.resolve_config`),
calls :func:`run_training` and prints :func:`training_summary`. The kind of run follows from the
arguments:

- ``data`` is a folder written by ``audiocnn pack``: one model trained on the packed shards
  (:func:`audiocnn.train.stream.fit_stream`, the run folder locked while it lasts);
- ``inits`` names two initialisations: one k-fold run per arm and their paired comparison
  (:func:`audiocnn.evaluate.compare.compare_inits`);
- otherwise the k-fold protocol (:func:`audiocnn.evaluate.protocol.run_experiment`).
"""

from __future__ import annotations

import dataclasses
import os

from audiocnn.train.config import TrainConfig
from audiocnn.train.records import check_logger

__all__ = ["check_init_choice", "check_mixup_choice", "run_training", "training_summary"]


def check_init_choice(config: TrainConfig, inits: tuple[str, ...] | None) -> None:
    """``init`` / ``imagenet_weights`` (``--init``, ``--imagenet-weights``) only mean something for
    the ImageNet models: ValueError up front for any other model."""
    chosen = inits is not None or any(k in config.model_kwargs for k in ("init", "imagenet_weights"))
    if not chosen:
        return
    from audiocnn.models import get_model_builder, model_family

    get_model_builder(config.model)  # an unknown name gets the registry's error
    if model_family(config.model) != "imagenet":
        from audiocnn.evaluate.compare import imagenet_models

        flag = "--init" if inits is not None or "init" in config.model_kwargs else "--imagenet-weights"
        raise ValueError(
            f"{flag} chooses the initial weights of the ImageNet models ({imagenet_models()}); "
            f"{config.model} has no such choice (for pretrained PANNs weights use --checkpoint)"
        )


def check_mixup_choice(config: TrainConfig) -> None:
    """``--mixup-on logmel`` needs a model that mixes its log-mel in ``forward``: ValueError up
    front (the model is built on the meta device: no memory, no weights) for any other."""
    if config.mixup <= 0 or config.mixup_on != "logmel":
        return
    import torch

    from audiocnn.models import create_model
    from audiocnn.models.bundle import INIT_KWARGS
    from audiocnn.train.module import check_mixup_choice as check

    with torch.device("meta"):
        model = create_model(config.model, num_classes=2, **{k: v for k, v in config.model_kwargs.items() if k not in INIT_KWARGS})
    check(config, model)


def _rank0() -> bool:
    return all(int(os.environ.get(k, "0") or 0) == 0 for k in ("RANK", "LOCAL_RANK"))


def run_training(
    data,
    config: TrainConfig,
    out_dir,
    *,
    inits: tuple[str, ...] | None = None,
    stream_options=None,
    threads: int | None = None,
    **run_kwargs,
) -> dict:
    """Train ``config`` on ``data`` into ``out_dir`` (see the module docstring).

    Args:
        inits: two initialisations to compare (``("imagenet", "random")``); one arm is given
            as ``config.model_kwargs["init"]`` instead.
        stream_options: :class:`audiocnn.train.stream.StreamOptions` for packed data.
        threads: torch CPU threads (None: torch's default).
        run_kwargs: ``dataset``, ``folds``, ``group_column``, ``skip_bad``, ``max_folds``,
            ``resume``, ``cache_dir``, ``baselines``, ``recipe`` of :func:`~audiocnn.evaluate.protocol.run_experiment`
            (``resume`` also for packed data).

    Returns ``{"kind": "folds" | "comparison" | "stream", "model", "out", "result"}``; ``result``
    is the run's ``metrics.json``, the comparison dict or the stream fit's summary, and ``None``
    on the DDP ranks other than 0.
    """
    if threads:
        import torch

        torch.set_num_threads(threads)
    check_init_choice(config, inits if inits is not None and len(inits) > 1 else None)
    check_mixup_choice(config)
    check_logger(config.logger)
    from audiocnn.data.shards import is_packed

    base = {"model": config.model, "out": str(out_dir)}
    if run_kwargs.get("recipe", "cnn") != "cnn" and (is_packed(data) or (inits is not None and len(inits) > 1)):
        raise ValueError("--recipe auto runs on k folds of a manifest; not with packed data or --init a,b")
    if is_packed(data):
        return {**base, "kind": "stream", "result": _stream(data, config, out_dir, stream_options, run_kwargs.get("resume", False))}
    if inits is not None and len(inits) > 1:
        from audiocnn.evaluate.compare import compare_inits

        arms = dataclasses.replace(config, model_kwargs={k: v for k, v in config.model_kwargs.items() if k != "init"})
        result = compare_inits(data, arms, out_dir, inits=inits, **run_kwargs)
        return {**base, "kind": "comparison", "result": result or None}
    from audiocnn.evaluate.protocol import is_global_zero, run_experiment

    metrics = run_experiment(data, config, out_dir, **run_kwargs)
    return {**base, "kind": "folds", "result": metrics if is_global_zero() else None}


def _stream(data, config: TrainConfig, out_dir, options, resume: bool) -> dict | None:
    from audiocnn.train.runlock import run_lock
    from audiocnn.train.stream import StreamOptions, fit_stream

    with run_lock(out_dir, enabled=_rank0()):  # a second run on the same folder refuses
        fit = fit_stream(data, config, out_dir, options or StreamOptions(), resume=resume)
    if not _rank0():
        return None
    return {"best_epoch": fit.best_epoch, "best_val": dict(fit.best_val), "steps": len(fit.steps)}


def _mean_std(s: dict, key: str) -> str:
    return f"{s[key]['mean']:.4f} ± {s[key]['std']:.4f}"


def _folds_lines(model: str, out: str, metrics: dict) -> list[str]:
    from audiocnn.evaluate.baselines import baseline_shortfalls
    from audiocnn.metrics import metric_names

    s = metrics["summary"]
    keys = metric_names(metrics["task"] == "tagging")
    line = ", ".join(f"{k} {_mean_std(s, k)}" for k in keys if k in s)
    k, kb = f"{keys[0]}_unadapted", f"{keys[0]}_adabn"
    if kb in s:
        line += (f" with test-time adaptation by information maximisation ({keys[0]} {_mean_std(s, kb)} "
                 f"with BatchNorm statistics only, {_mean_std(s, k)} without adaptation)")
    elif k in s:
        line += f" with test-time BatchNorm adaptation ({keys[0]} {_mean_std(s, k)} without)"
    if f"{keys[0]}_cnn_only" in s:
        line += f" with the late-fused statistics head ({keys[0]} {_mean_std(s, keys[0] + '_cnn_only')} for the CNN alone)"
    lines = [f"{model}: {line} over {s['n_folds']} fold(s) in {metrics['wall_seconds']:.0f} s"]
    for b in (metrics.get("baselines") or {}).values():
        bs = (b.get("summary") or {}).get(keys[0])
        lines.append(f"  baseline {b['title']}: "
                     + (f"{keys[0]} {bs['mean']:.4f} ± {bs['std']:.4f} on the same folds" if bs else f"failed ({b.get('error')})"))
    auto = metrics.get("recipe") or {}
    if (a := (auto.get("summary") or {}).get("accuracy")):
        from audiocnn.evaluate.auto_recipe import chosen_text

        lines.append(f"  recipe auto (chosen per fold on an inner validation split; {chosen_text(auto)}): accuracy {a['mean']:.4f} ± {a['std']:.4f}")
    lines += [f"warning: {w}" for w in baseline_shortfalls(metrics)]
    return lines + [f"report: {out}/report.md"]


def training_summary(run: dict) -> list[str]:
    """The lines ``audiocnn train`` prints about a :func:`run_training` result (none on the DDP
    ranks other than 0)."""
    model, out, result = run["model"], run["out"], run["result"]
    if result is None:
        return []
    if run["kind"] == "folds":
        return _folds_lines(model, out, result)
    if run["kind"] == "comparison":
        k = result["primary"]
        s = result["summary"][k]
        a, b = result["arms"]
        return [
            f"{model} {k} over {result['n_folds']} fold(s): {a} {_mean_std(s, a)}, {b} {_mean_std(s, b)}; "
            f"{a} − {b} {s['difference']['mean']:+.4f} ({a} better on {s['wins'][a]}, {b} on {s['wins'][b]})",
            f"report: {out}/comparison.md",
        ]
    val = ", ".join(f"{k} {v:.4f}" for k, v in result["best_val"].items())
    return [f"{model}: epoch {result['best_epoch']} kept ({val or 'no validation shards'}); {result['steps']} steps",
            f"model: {out}/best.pth, run: {out}/run.json"]
