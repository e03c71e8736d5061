"""``audiocnn explain``: a saliency map of one clip (thin wrapper over :mod:`audiocnn.inference.saliency`)."""

from __future__ import annotations

import sys

from audiocnn.cli.options import add_command, printed_warnings

ORDER = 60

EPILOG = """examples:
  audiocnn explain dog.wav --model imagenet_densenet201 --checkpoint runs/esc/fold1/best.pth --out saliency.png
  audiocnn explain clip.wav --model cnn14 --checkpoint Cnn14_mAP=0.431.pth \\
      --labels class_labels_indices.csv --method gradcam --out gradcam.png
  audiocnn explain clip.wav --model cnn14 --checkpoint Cnn14_mAP=0.431.pth --method smoothgrad --target Speech

The figure shows the input spectrogram and the saliency map over it (time in seconds, frequency
in Hz), titled with the predicted class and its probability. gradient: |d logit / d input|;
smoothgrad: the same averaged over noisy copies; gradcam: Grad-CAM on the model's last
convolutional layer (`audiocnn models` metadata). Works for every registered model; for
waveform models the gradient is mapped onto a log-mel of the input.
"""


def register(subparsers) -> None:
    from audiocnn.inference.saliency import METHODS

    p = add_command(subparsers, "explain", help="saliency map (gradient, SmoothGrad, Grad-CAM) of one clip",
                    description="Show which time-frequency regions of a clip drive a model's prediction.", epilog=EPILOG)
    p.add_argument("file", help="audio file")
    p.add_argument("--model", default=None, help="registered model name (default: the checkpoint's; cnn14 without a checkpoint)")
    p.add_argument("--checkpoint", help="checkpoint file or model folder; without it the model has RANDOM weights")
    p.add_argument("--method", default="gradient", choices=METHODS, help="default gradient")
    p.add_argument("--out", default="saliency.png", help="figure to write (default saliency.png)")
    p.add_argument("--labels", help="class names: class_labels_indices.csv-style file or one name per line")
    p.add_argument("--target", help="class to explain (index or name; default: the predicted class)")
    p.add_argument("--offset", type=float, default=0.0, help="start of the excerpt in seconds")
    p.add_argument("--duration", type=float, default=None, help="excerpt length in seconds (default: to the end)")
    p.add_argument("--samples", type=int, default=16, help="SmoothGrad: noisy copies (default 16)")
    p.add_argument("--npz", help="also save the arrays (spectrogram, saliency, times, freqs) to this .npz")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from audiocnn.atomic import write_with
    from audiocnn.audio import AudioLoadError, load_audio
    from audiocnn.inference.loading import open_model
    from audiocnn.inference.saliency import plot_saliency, saliency

    with printed_warnings():
        model, bundle = open_model(args.model or (None if args.checkpoint else "cnn14"), args.checkpoint, args.labels)
    labels = list(bundle.labels)
    target = None
    if args.target is not None:
        if args.target.lstrip("-").isdigit():
            target = int(args.target)
        elif args.target in labels:
            target = labels.index(args.target)
        else:
            raise ValueError(f"--target {args.target!r} is neither a class index nor one of the {len(labels)} labels")
    try:
        wave, _ = load_audio(args.file, sample_rate=model.sample_rate, offset=args.offset, duration=args.duration)
    except AudioLoadError as e:  # one clear line from the CLI, not a traceback
        raise ValueError(str(e)) from e
    if len(wave) < model.info.min_samples:
        print(f"warning: {args.file}: {len(wave)} samples, padded to the model's minimum {model.info.min_samples}", file=sys.stderr)
    result = saliency(model, wave, method=args.method, target=target, samples=args.samples, labels=labels, bundle=bundle)
    plot_saliency(result, args.out, title=f"{args.file} - {model.info.name}")
    if args.npz:
        arrays = dict(spectrogram=result.spectrogram, saliency=result.saliency, times=result.times, freqs=result.freqs)
        write_with(args.npz, lambda tmp: np.savez(tmp, **arrays))
    print(f"{args.file}: predicted {result.label} (p = {result.probability:.3f}); {args.method} map of {result.target_label} -> {args.out}")
    return 0
