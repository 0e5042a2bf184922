"""``python -m chai.eval {train,quality}``: train the synthetic STDiT3, run the CHAI quality benchmark."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _add_train(sub: argparse._SubParsersAction) -> None:
    from chai.eval.train import DEFAULT_MODEL_DIR, TrainConfig

    d = TrainConfig()
    p = sub.add_parser("train", help="train the synthetic STDiT3 with rectified flow (resumable)")
    p.add_argument("--out", default="runs/synthetic", help="run directory (checkpoint, log, loss curve)")
    p.add_argument("--preset", default=d.preset)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--minutes", type=float, default=None, help="stop (with a checkpoint) after this wall time")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--warmup", type=int, default=d.warmup)
    p.add_argument("--ema-decay", type=float, default=d.ema_decay)
    p.add_argument("--frames", type=int, default=d.frames)
    p.add_argument("--num-clips", type=int, default=d.num_clips)
    p.add_argument("--data-seed", type=int, default=d.data_seed)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--t-sampling", choices=("logit-normal", "uniform"), default=d.t_sampling)
    p.add_argument("--encoder", choices=("minilm", "hash"), default=d.encoder)
    p.add_argument("--ckpt-every", type=int, default=d.ckpt_every)
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument(
        "--model-override",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="STDiT3Config field override, e.g. depth=2 (repeatable; values parsed as JSON)",
    )
    p.add_argument(
        "--init-from",
        default=None,
        metavar="CHECKPOINT",
        help="warm start: copy the tensors of this checkpoint.pt whose names and shapes match",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    p.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--export",
        nargs="?",
        const=str(DEFAULT_MODEL_DIR),
        default=None,
        metavar="DIR",
        help=f"after training, export the EMA weights + config + hash to DIR (default {DEFAULT_MODEL_DIR})",
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
        from chai.eval.train import TrainConfig, export_model, train

        overrides = {}
        for item in args.model_override:
            if "=" not in item:
                parser.error(f"--model-override {item!r}: expected FIELD=VALUE (e.g. depth=2)")
            k, v = item.split("=", 1)
            try:
                overrides[k] = json.loads(v)
            except json.JSONDecodeError:
                overrides[k] = v
        cfg = TrainConfig(
            preset=args.preset,
            model_overrides=overrides,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            warmup=args.warmup,
            ema_decay=args.ema_decay,
            frames=args.frames,
            num_clips=args.num_clips,
            data_seed=args.data_seed,
            seed=args.seed,
            t_sampling=args.t_sampling,
            encoder=args.encoder,
            ckpt_every=args.ckpt_every,
            log_every=args.log_every,
            max_minutes=args.minutes,
            init_from=args.init_from,
        )
        summary = train(cfg, args.out, resume=not args.no_resume, threads=args.threads, progress=not args.no_progress)
        if args.export:
            summary["exported"] = str(export_model(args.out, args.export))
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
