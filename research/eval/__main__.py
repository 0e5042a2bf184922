"""``python -m research.eval {train,competence,quality}`` (from a source checkout): train the synthetic STDiT3,
measure what it learned, run the CHAI quality benchmark."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

# TrainConfig fields settable from the command line: flag -> (field, type, help). Unset flags keep TrainConfig's
# defaults, so the parser needs no import of the (torch-heavy) training module and states no default twice.
_TRAIN_FIELDS = {
    "--preset": ("preset", str, "STDiT3 preset to train"),
    "--steps": ("steps", int, "optimizer steps of the whole run"),
    "--minutes": ("max_minutes", float, "stop (with a checkpoint) after this many minutes of wall time"),
    "--batch-size": ("batch_size", int, "clips per step"),
    "--lr": ("lr", float, "peak AdamW learning rate"),
    "--warmup": ("warmup", int, "linear learning-rate warm-up steps"),
    "--cooldown": ("cooldown", int, "last steps over which the learning rate decays linearly to 0"),
    "--ema-decay": ("ema_decay", float, "decay of the exported EMA of the weights"),
    "--frames": ("frames", int, "frames per training clip"),
    "--num-clips": ("num_clips", int, "distinct clips in the seeded training stream"),
    "--p-two": ("p_two", float, "probability of a two-object clip"),
    "--ae-factor": ("ae_factor", int, "space-to-depth factor of the fixed autoencoder"),
    "--data-seed": ("data_seed", int, "seed of the clip stream"),
    "--seed": ("seed", int, "seed of initialisation, noise, timesteps and caption dropout"),
    "--t-sampling": ("t_sampling", str, "distribution of training timesteps"),
    "--encoder": ("encoder", str, "caption features: minilm (the pipeline's) or hash (tests)"),
    "--ckpt-every": ("ckpt_every", int, "steps between checkpoints"),
    "--log-every": ("log_every", int, "steps between log lines"),
    "--init-from": ("init_from", str, "warm-start from a checkpoint.pt or exported .safetensors (matching tensors)"),
    "--precision": ("precision", str, "fp32, or bf16 autocast (1.7x faster on AVX512-BF16 CPUs)"),
    "--placement": ("placement", str, "where objects start: random, or centred (the motion decides; one object)"),
    "--object-weight": ("object_weight", float, "loss weight of latent pixels an object covers (1: unweighted)"),
    "--t-shift": ("t_shift", float, "mean of the logit-normal timestep draw (0: OpenSora's; > 0: more noisy t)"),
    "--image-fraction": ("image_fraction", float, "share of steps that train on still frames (batch x frames)"),
}
_CHOICES = {
    "--t-sampling": ("logit-normal", "uniform"),
    "--encoder": ("minilm", "hash"),
    "--precision": ("fp32", "bf16"),
    "--placement": ("random", "centred"),
}


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the synthetic STDiT3 with rectified flow (resumable)",
        description="Train the synthetic STDiT3 on procedural clips with rectified flow; a rerun of the same "
        "command resumes. Unset options keep the defaults of research.eval.train.TrainConfig, which are the "
        "recipe of the shipped weights.",
    )
    p.add_argument("--out", default="runs/synthetic", help="run directory (checkpoint, log, loss curve)")
    for flag, (field, kind, text) in _TRAIN_FIELDS.items():
        p.add_argument(
            flag, dest=field, type=kind, choices=_CHOICES.get(flag), default=None, help=f"{text} (TrainConfig.{field})"
        )
    p.add_argument(
        "--model-override",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="STDiT3Config field override, e.g. depth=2 (repeatable; values parsed as JSON)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    p.add_argument("--device", default="cpu", help="where the model trains: cpu (default), cuda, cuda:1, ...")
    p.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--export",
        default=None,
        metavar="DIR",
        help="after training, write the EMA weights, config.json and synthetic.json (hashes), the log and the "
        "loss curve to DIR",
    )


def _add_quality(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quality",
        help="CHAI quality benchmark on the synthetic model",
        description="Generate prompt pairs (A then B) with the synthetic STDiT3: a 30-step baseline, plain 8 steps, "
        "CHAI joint and replace, whole-prompt reuse; score adherence, PSNR/SSIM to the baseline and temporal "
        "consistency.",
    )
    p.add_argument("--pairs", type=int, default=12, help="prompt pairs per kind (related and unrelated; default 12)")
    p.add_argument("--grid", default=None, metavar="FILE.png", help="write a PNG grid of example clips to FILE.png")
    p.add_argument("--full-steps", type=int, default=30, help="steps of the baseline and of A (default 30)")
    p.add_argument("--hit-steps", type=int, default=8, help="steps of the short variants of B (default 8)")
    p.add_argument("--cache-bias", type=float, default=0.0, help="logit bias on cached keys (default 0)")
    p.add_argument(
        "--knobs",
        action="store_true",
        help="also run one CHAI experiment per setting (bias, hit steps, block, CFG half, mask, replace; docs/quality.md)",
    )
    p.add_argument(
        "--natural-related",
        type=int,
        default=None,
        metavar="N",
        help="score the related group on N pairs whose request hits the cached prompt under the cache's default "
        "matcher: related pairs are drawn until N hit (instead of --pairs related pairs; --pairs still sets the "
        "unrelated, forced hits)",
    )
    p.add_argument(
        "--natural-related-cap",
        type=int,
        default=None,
        metavar="M",
        help="draw at most M related candidates for --natural-related (default 4 x N); at the cap the run goes on "
        "with the hits found and says so",
    )
    p.add_argument(
        "--bias-sweep",
        type=_float_list,
        nargs="+",
        default=[],
        metavar="BIAS",
        help="run CHAI-joint at each cache bias with both CFG halves and with the conditional half only seeing the "
        "cache (the default bias is added); report adherence against leakage with intervals and a decision block. "
        "Give the biases apart (--bias-sweep -2 -1 0 1 2) or joined after '=' (--bias-sweep=-2,-1,0,1,2)",
    )
    p.add_argument(
        "--sweep-plot",
        default=None,
        metavar="FILE.png",
        help="write the adherence-against-leakage plot of --bias-sweep to FILE.png (default: beside --report)",
    )
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples per interval (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="workload and noise seed (default 0)")
    _add_measurement_options(p, "results table")


def _float_list(text: str) -> tuple[float, ...]:
    """``"-2,-1,0,1,2"`` -> (-2.0, -1.0, 0.0, 1.0, 2.0), for argparse."""
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers (e.g. -2,-1,0,1,2)"
        ) from None


def _add_competence(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "competence",
        help="has the synthetic model learned its world? analyzer accuracy on its samples of held-out prompts",
        description="Sample held-out one-object prompts (not in the training captions) at 30 and 8 steps without a "
        "cache and report the analyzer's accuracy per attribute (target: colour, shape, size, motion and background "
        "kind >= 0.8 at 30 steps).",
    )
    p.add_argument("--prompts", type=int, default=48, help="held-out prompts (default 48)")
    p.add_argument("--steps", type=int, nargs="+", default=[30, 8], help="step counts to sample (default 30 8)")
    p.add_argument("--seed", type=int, default=0, help="prompt and noise seed (default 0)")
    p.add_argument(
        "--seen",
        action="store_true",
        help="draw the prompts from the model's training captions instead (memorisation vs composition; "
        "report only, no --doc)",
    )
    _add_measurement_options(p, "competence table")


def _add_measurement_options(p: argparse.ArgumentParser, table: str) -> None:
    """The options ``competence`` and ``quality`` share (read by :func:`_run_and_print`)."""
    p.add_argument("--cfg-scale", type=float, default=None, help="classifier-free guidance (default: the benchmark's)")
    p.add_argument("--model-dir", default=None, help="synthetic model directory (default: the one chai ships)")
    p.add_argument("--report", default=None, metavar="FILE.json", help="write the JSON report to FILE.json")
    p.add_argument("--doc", default=None, metavar="FILE.md", help=f"append/replace the {table} in this file")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress output")


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    """Add ``train``, ``competence`` and ``quality`` to a subparser group."""
    _add_train(sub)
    _add_competence(sub)
    _add_quality(sub)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the parsed ``train`` / ``quality`` command (``args.eval_command``); returns the exit code."""
    if args.eval_command == "train":
        from research.eval.train import TrainConfig, export_model, train

        overrides = {}
        for item in args.model_override:
            if "=" not in item:
                parser.error(f"--model-override {item!r}: expected FIELD=VALUE (e.g. depth=2)")
            k, v = item.split("=", 1)
            try:
                overrides[k] = json.loads(v)
            except json.JSONDecodeError:
                overrides[k] = v
        fields = {f: getattr(args, f) for f, _, _ in _TRAIN_FIELDS.values() if getattr(args, f) is not None}
        cfg = TrainConfig(model_overrides=overrides, **fields)
        summary = train(
            cfg,
            args.out,
            resume=not args.no_resume,
            threads=args.threads,
            progress=not args.no_progress,
            device=args.device,
        )
        if args.export is not None:
            summary["exported"] = str(export_model(args.out, args.export))
        print(json.dumps(summary, indent=2))
        return 0

    if args.eval_command == "competence":
        from research.eval.competence import CompetenceConfig, run_competence

        try:
            ccfg = CompetenceConfig(
                prompts=args.prompts,
                seed=args.seed,
                steps=tuple(args.steps),
                cfg_scale=args.cfg_scale,
                seen=args.seen,
            )
        except ValueError as e:
            parser.error(str(e))
        return _run_and_print(run_competence, ccfg, args)

    from research.eval.quality import QualityConfig, run_quality

    try:
        qcfg = QualityConfig(
            pairs=args.pairs,
            full_steps=args.full_steps,
            hit_steps=args.hit_steps,
            cfg_scale=args.cfg_scale,
            cache_bias=args.cache_bias,
            knobs=args.knobs,
            seed=args.seed,
            natural_related=args.natural_related,
            natural_related_cap=args.natural_related_cap,
            bias_sweep=tuple(b for group in args.bias_sweep for b in group),
            resamples=args.resamples,
        )
    except ValueError as e:
        parser.error(str(e))
    if args.natural_related_cap is not None and args.natural_related is None:
        parser.error("--natural-related-cap needs --natural-related N")
    plot = args.sweep_plot
    if plot is None and args.bias_sweep and args.report:
        plot = str(Path(args.report).with_suffix("")) + "_sweep.png"
    return _run_and_print(run_quality, qcfg, args, grid_path=args.grid, sweep_plot_path=plot)


def _run_and_print(run, config, args: argparse.Namespace, **extra) -> int:
    """Run a measurement (``run_competence`` / ``run_quality``) with the options both commands share; print its
    summary."""
    report = run(
        config,
        model_dir=args.model_dir,
        report_path=args.report,
        doc_path=args.doc,
        threads=args.threads,
        progress=not args.no_progress,
        **extra,
    )
    print(json.dumps(report["summary"], indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m research.eval",
        description="Train the synthetic STDiT3, measure what it learned and run the CHAI quality benchmark (from a source "
        "checkout).",
    )
    sub = parser.add_subparsers(
        dest="eval_command", required=True, metavar="ACTION", help="train, competence or quality"
    )
    add_subcommands(sub)
    return run(parser.parse_args(argv), parser)


if __name__ == "__main__":
    sys.exit(main())
