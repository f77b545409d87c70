"""Command line: `python -m containers images | stack | remove`."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType

import docker.errors

from containers.cleanup import remove_stack
from containers.definitions import PGBOUNCER_POOL_SIZE
from containers.errors import StackError
from containers.images import ROLES, ImageBuildError, ensure_images
from containers.replicas import PROFILES
from containers.stack import Stack
from service.regressions import REGRESSION_IDS, parse_regressions


def _images(args: argparse.Namespace) -> int:
    """Build the images whose inputs changed (nothing when all are up to date)."""
    started = time.monotonic()
    tags = ensure_images(tuple(args.roles or ROLES))
    for role, tag in tags.as_dict().items():
        print(f"{role:<9} {tag}")
    print(f"[images] all images ready in {time.monotonic() - started:.1f}s", flush=True)
    return 0


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stack(args: argparse.Namespace) -> int:
    """Boot the capped stack, print how to reach it, keep it until Ctrl-C."""
    stack = Stack(
        profile=args.profile,
        regressions=parse_regressions(args.regressions),
        replicas=args.replicas,
        pgbouncer=args.pgbouncer,
        pgbouncer_pool_size=args.pgbouncer_pool_size,
    )
    print(f"starting TasteMatch stack {stack.stack_id}", flush=True)
    started = time.monotonic()
    # `docker stop`/`kill` of this process must tear the stack down like Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        with stack:
            print(f"stack up in {time.monotonic() - started:.1f}s")
            print(stack.describe())
            print("Ctrl-C stops and removes it.", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print(f"\nstack {stack.stack_id} removed")
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _remove(args: argparse.Namespace) -> int:
    """Remove a stack's containers and network (one left running by --keep-stack)."""
    problems = remove_stack(args.stack_id)
    for problem in problems:
        print(f"error: could not remove {problem}", file=sys.stderr)
    if not problems:
        print(f"stack {args.stack_id} removed")
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m containers", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    images = commands.add_parser("images", help=_images.__doc__, description=_images.__doc__)
    images.add_argument("roles", nargs="*", choices=[*ROLES, []], help="only these images")
    images.set_defaults(run=_images)

    stack = commands.add_parser("stack", help=_stack.__doc__, description=_stack.__doc__)
    stack.add_argument("--profile", choices=PROFILES, default="optimized")
    stack.add_argument(
        "--regressions", default="", help=f"comma list of {', '.join(REGRESSION_IDS)}"
    )
    stack.add_argument("--replicas", type=int, default=1, help="service replicas (default 1)")
    stack.add_argument(
        "--pgbouncer",
        action="store_true",
        help="put PgBouncer (transaction pooling) between the replicas and Postgres",
    )
    stack.add_argument(
        "--pgbouncer-pool-size",
        type=int,
        default=PGBOUNCER_POOL_SIZE,
        metavar="N",
        help=f"most Postgres connections PgBouncer opens (default {PGBOUNCER_POOL_SIZE})",
    )
    stack.set_defaults(run=_stack)

    remove = commands.add_parser("remove", help=_remove.__doc__, description=_remove.__doc__)
    remove.add_argument("stack_id", help="the id printed when the stack started")
    remove.set_defaults(run=_remove)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (ImageBuildError, StackError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except docker.errors.DockerException as error:
        print(
            f"error: the Docker engine does not answer ({error}); run `make engine`",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
