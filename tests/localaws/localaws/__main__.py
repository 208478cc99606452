"""Command line: `python -m localaws serve [options]` runs the emulator until SIGTERM/SIGINT.

When the server accepts connections it prints one JSON line
`{"endpoint": "http://127.0.0.1:PORT", "pid": ...}` to stdout (plus "stack" when
--provision was given) and, with --ready-file, writes the same line to that file
(written to a temporary name, then renamed, so a reader never sees half of it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m localaws", description="Local AWS emulator for shipwatch")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the emulator")
    s.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 picks a free one)")
    s.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    s.add_argument("--seconds-per-minute", type=float, default=60.0, help="real seconds per emulated minute (default 60)")
    s.add_argument("--alarm-poll-seconds", type=float, default=None, help="emulated seconds between CodeDeploy alarm polls")
    s.add_argument("--alarm-eval-seconds", type=float, default=None, help="emulated seconds between alarm evaluations")
    s.add_argument("--timing", choices=("fast", "realistic"), default=None,
                   help="timing profile of alarms, ALB metrics and awslogs (default fast; see README)")
    s.add_argument("--ready-file", default=None, help="also write the ready JSON line to this file")
    s.add_argument("--provision", action="append", default=[], metavar="NAME", help="provision a named stack after start")
    s.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p


def _write_ready(path: str, line: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def serve(args: argparse.Namespace) -> int:
    from .server import start

    if args.seconds_per_minute <= 0:
        print("--seconds-per-minute must be positive", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    handle = start(
        port=args.port,
        host=args.host,
        seconds_per_minute=args.seconds_per_minute,
        alarm_poll_seconds=args.alarm_poll_seconds,
        alarm_eval_seconds=args.alarm_eval_seconds,
        provision=args.provision,
        verbose=args.verbose,
        config={"timing": args.timing} if args.timing else None,
    )
    try:
        ready: dict = {"endpoint": handle.endpoint, "pid": os.getpid()}
        if args.provision:
            ready["stack"] = handle.stack
        line = json.dumps(ready, default=str)
        if args.ready_file:
            _write_ready(args.ready_file, line)
        print(line, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        handle.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
