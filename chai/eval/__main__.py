"""``python -m chai.eval {train,quality}``: train the synthetic STDiT3, run the CHAI quality benchmark."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


# TrainConfig fields settable from the command line: flag -> (field, type). Unset flags keep TrainConfig's
# defaults, so the parser needs no import of the (torch-heavy) training module and states no default twice.
_TRAIN_FIELDS = {
    "--preset": ("preset", str),
    "--steps": ("steps", int),
    "--minutes": ("max_minutes", float),
    "--batch-size": ("batch_size", int),
    "--lr": ("lr", float),
    "--warmup": ("warmup", int),
    "--cooldown": ("cooldown", int),
    "--ema-decay": ("ema_decay", float),
    "--frames": ("frames", int),
    "--num-clips": ("num_clips", int),
    "--p-two": ("p_two", float),
    "--ae-factor": ("ae_factor", int),
    "--data-seed": ("data_seed", int),
    "--seed": ("seed", int),
    "--t-sampling": ("t_sampling", str),
    "--encoder": ("encoder", str),
    "--ckpt-every": ("ckpt_every", int),
    "--log-every": ("log_every", int),
    "--init-from": ("init_from", str),
}
_CHOICES = {"--t-sampling": ("logit-normal", "uniform"), "--encoder": ("minilm", "hash")}


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the synthetic STDiT3 with rectified flow (resumable)",
        description="Unset options keep the defaults of chai.eval.train.TrainConfig.",
    )
    p.add_argument("--out", default="runs/synthetic", help="run directory (checkpoint, log, loss curve)")
    for flag, (field, kind) in _TRAIN_FIELDS.items():
        p.add_argument(flag, dest=field, type=kind, choices=_CHOICES.get(flag), default=None)
    p.add_argument(
        "--model-override",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="STDiT3Config field override, e.g. depth=2 (repeatable; values parsed as JSON)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    p.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--export",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="after training, export the EMA weights + config + hash to DIR (default: chai/data/synthetic)",
    )


def _add_quality(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quality", help="CHAI quality benchmark on the synthetic model")
    p.add_argument("--pairs", type=int, default=12, help="prompt pairs per kind (related and unrelated)")
    p.add_argument("--report", default=None, metavar="FILE.json")
    p.add_argument("--grid", default=None, metavar="FILE.png")
    p.add_argument("--doc", default=None, metavar="FILE.md", help="append/replace the results table in this file")
    p.add_argument("--model-dir", default=None, help="synthetic model directory (default: the committed one)")
    p.add_argument("--full-steps", type=int, default=30)
    p.add_argument("--hit-steps", type=int, default=8)
    p.add_argument("--cfg-scale", type=float, default=None)
    p.add_argument("--cache-bias", type=float, default=0.0)
    p.add_argument("--knobs", action="store_true", help="also sweep the CHAI knobs (bias, joint/replace, steps)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-progress", action="store_true")


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``quality`` to a subparser group (used here and by ``chai eval``)."""
    _add_train(sub)
    _add_quality(sub)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the parsed ``train`` / ``quality`` command (``args.eval_command``); returns the exit code."""
    if args.eval_command == "train":
        from chai.eval.train import DEFAULT_MODEL_DIR, TrainConfig, export_model, train

        overrides = {}
        for item in args.model_override:
            if "=" not in item:
                parser.error(f"--model-override {item!r}: expected FIELD=VALUE (e.g. depth=2)")
            k, v = item.split("=", 1)
            try:
                overrides[k] = json.loads(v)
            except json.JSONDecodeError:
                overrides[k] = v
        fields = {f: getattr(args, f) for f, _ in _TRAIN_FIELDS.values() if getattr(args, f) is not None}
        cfg = TrainConfig(model_overrides=overrides, **fields)
        summary = train(cfg, args.out, resume=not args.no_resume, threads=args.threads, progress=not args.no_progress)
        if args.export is not None:
            summary["exported"] = str(export_model(args.out, args.export or DEFAULT_MODEL_DIR))
        print(json.dumps(summary, indent=2))
        return 0

    from chai.eval.quality import QualityConfig, run_quality

    qcfg = QualityConfig(
        pairs=args.pairs,
        full_steps=args.full_steps,
        hit_steps=args.hit_steps,
        cfg_scale=args.cfg_scale,
        cache_bias=args.cache_bias,
        knobs=args.knobs,
        seed=args.seed,
    )
    report = run_quality(
        qcfg,
        model_dir=args.model_dir,
        report_path=args.report,
        grid_path=args.grid,
        doc_path=args.doc,
        threads=args.threads,
        progress=not args.no_progress,
    )
    print(json.dumps(report["summary"], indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chai.eval", description=__doc__)
    sub = parser.add_subparsers(dest="eval_command", required=True)
    add_subcommands(sub)
    return run(parser.parse_args(argv), parser)


if __name__ == "__main__":
    sys.exit(main())
