"""Command line: the service, or the same flow on one photo without HTTP.

    python -m inference serve [--host 127.0.0.1] [--port 8090] [--device cuda|cpu] [--weights DIR] [--workers N]
    python -m inference analyze PHOTO [--domain auto|scalp|face] [--out annotated.jpg] [--device cpu]

``analyze`` prints the service's JSON answer without the image (``annotated_jpeg`` is
written to ``--out`` when given). Exit status 0 when the photo was analysed (also when it
failed the quality gate), 2 for input the service would answer with 4xx or settings it
cannot use.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

EXIT_BAD_INPUT = 2


def _settings(args: argparse.Namespace):
    from inference.service.settings import Settings

    return Settings.from_env(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        device=args.device,
        weights=Path(args.weights) if args.weights else None,
        workers=getattr(args, "workers", None),
    )


def _error(code: str, message: str) -> int:
    print(json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False))
    return EXIT_BAD_INPUT


def cmd_serve(args: argparse.Namespace) -> int:
    from inference.service.serve import serve
    from inference.service.settings import SettingsError

    try:
        settings = _settings(args)
    except SettingsError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return serve(settings)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Libraries print while loading (Ultralytics: the model summary): keep stdout for the JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


async def _analyze(settings, data: bytes, domain: str, with_image: bool) -> dict:
    from inference.service.flow import Flow

    async with Flow(settings.replace(max_batch=1, io_threads=1)) as flow:
        return await flow.analyze(data, domain, with_image=with_image)


def cmd_analyze(args: argparse.Namespace) -> int:
    """The service's flow on one photo, in this process."""
    with _stdout_to_stderr():
        from inference.pipeline.common.decode import DecodeError, decode
        from inference.service.flow import DomainUnavailable
        from inference.service.settings import SettingsError
    try:
        settings = _settings(args)
    except SettingsError as e:
        return _error("bad_settings", str(e))
    data = Path(args.photo).read_bytes()
    try:
        decode(data)  # bad input is refused before the models load
        with _stdout_to_stderr():
            result = asyncio.run(_analyze(settings, data, args.domain, bool(args.out)))
    except DecodeError as e:
        return _error(e.code, e.message)
    except DomainUnavailable:
        return _error("domain_unavailable", f"no {args.domain} models yet")
    jpeg = result.pop("annotated_jpeg")
    if args.out and jpeg:
        Path(args.out).write_bytes(base64.b64decode(jpeg))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m inference", description=(__doc__ or "").split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the HTTP service")
    s.add_argument("--host", default=None, help="default $INFERENCE_HOST or 127.0.0.1")
    s.add_argument("--port", type=int, default=None, help="default $INFERENCE_PORT or 8090")
    s.add_argument("--device", default=None, help="default $INFERENCE_DEVICE, else cuda when present, else cpu")
    s.add_argument("--weights", default=None, help="default $WEIGHTS_DIR or ./weights")
    s.add_argument("--workers", type=int, default=None,
                   help="service processes sharing the port (default $INFERENCE_WORKERS or 1)")
    s.set_defaults(fn=cmd_serve)
    a = sub.add_parser("analyze", help="analyse one photo, print the JSON answer")
    a.add_argument("photo")
    a.add_argument("--domain", choices=("auto", "scalp", "face"), default="auto")
    a.add_argument("--out", default=None, help="write the annotated JPEG here")
    a.add_argument("--device", default=None)
    a.add_argument("--weights", default=None)
    a.set_defaults(fn=cmd_analyze)
    args = p.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
