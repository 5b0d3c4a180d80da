"""``python -m vos_recommender.app --frames DIR [--masks DIR] [--backend NAME] [--agent ZIP] [--quality CKPT]
[--ranker CKPT] [--session DIR]``: serve the annotation page on this machine.

Bad input is reported here at start (``error: ...``) and, unless ``--check`` is given, the page still
opens with the message in a banner and a form to open another folder.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys

from vos_recommender.app.server import AppConfig, create_app, open_annotator
from vos_recommender.app.video import AppInputError

__all__ = ["main", "parse_args"]


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"--backend-kwargs is not valid JSON ({err}): {text!r}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"--backend-kwargs must be a JSON object, got {text!r}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 1..65535, got {text!r}")
    return int(text)


def _listen(host: str, port: int) -> socket.socket:
    """Bind the port now, so that a busy one is reported before anything is printed or created."""
    address = host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    dualstack = address == "::" and socket.has_dualstack_ipv6()  # "::" serves IPv4 too, as uvicorn does
    try:
        return socket.create_server((address, port), family=family, dualstack_ipv6=dualstack)
    except OSError as err:
        raise AppInputError(
            f"--port {port}: cannot serve on {host}:{port} ({os.strerror(err.errno) if err.errno else err}); "
            "is the app already running there? give another --port"
        ) from err


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m vos_recommender.app", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--frames", help="folder of the video's frames (.jpg/.png, in name order)")
    parser.add_argument(
        "--masks", default=None, help="folder of starting masks (palette PNGs, one per frame)"
    )
    parser.add_argument(
        "--backend", default="flow", help="VOS backend: flow, learned, ipn, manet, atnet, cache, ..."
    )
    parser.add_argument(
        "--backend-kwargs",
        type=_json_object,
        default={},
        help='backend arguments as JSON, e.g. \'{"weights": "ckpt/manet.pth"}\' or, for cache, '
        '\'{"backend": "flow", "cache_dir": "cache"}\'',
    )
    parser.add_argument(
        "--agent", default=None, help="trained agent .zip (default: recommend by the best measured rule)"
    )
    parser.add_argument(
        "--quality", default=None, help="wild quality-estimator checkpoint (default: model confidence)"
    )
    parser.add_argument(
        "--strategy",
        default=None,
        help="which frame to recommend: agent, worst, uncertain_far, farthest, stride, linspace, random, ranker "
        "(default: the agent with --agent; the gain ranker with --ranker; else uncertain_far with --quality, "
        "stride without: the best measured rule)",
    )
    parser.add_argument(
        "--ranker",
        default=None,
        help="gain ranker checkpoint (python -m vos_recommender.training.ranker); needs --quality",
    )
    parser.add_argument(
        "--session",
        default=None,
        help="session folder (default: runs/app/<video name>-<hash of the frame folder's path>)",
    )
    parser.add_argument(
        "--export-root",
        default=None,
        help="a folder the page may export under, besides the session folder (default: none)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to serve on (default: this machine only)"
    )
    parser.add_argument("--port", type=_port, default=8765, help="port, 1..65535 (default 8765)")
    parser.add_argument(
        "--check", action="store_true", help="only check the inputs and exit (status 2 on errors)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    config = AppConfig(
        args.backend,
        args.backend_kwargs,
        args.session,
        agent=args.agent,
        quality=args.quality,
        strategy=args.strategy,
        ranker=args.ranker,
    )
    annotator, error, listener = None, None, None
    if not args.check:
        try:
            listener = _listen(args.host, args.port)
        except AppInputError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    if args.frames is None:
        error = "no --frames folder given: open one in the page"
    else:
        try:
            annotator = open_annotator(config, args.frames, args.masks)
        except AppInputError as err:
            error = str(err)
    if error is not None:
        print(f"error: {error}", file=sys.stderr)
        if args.check:
            return 2
    elif args.check:
        state = annotator.snapshot()
        print(
            f"ok: {state['video']['num_frames']} frames, {len(state['objects'])} objects, session {state['session_dir']}"
        )
        annotator.close()
        return 0
    if annotator is not None:
        rounds = len(annotator.state.rounds)
        print(
            f"session {annotator.session_dir}: "
            + (f"continuing after round {rounds}" if annotator.resumed else "new")
        )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}: anyone who can reach this address can edit the session")
    print(f"open http://{'localhost' if args.host == '127.0.0.1' else args.host}:{args.port}/")
    import uvicorn

    app = create_app(config, annotator, error, host=args.host, port=args.port, export_root=args.export_root)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])
    return 0


if __name__ == "__main__":
    sys.exit(main())
