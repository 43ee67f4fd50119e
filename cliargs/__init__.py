"""The suite's command lines share one shape: this helper is the only place it is defined.

Standard library only, so that every program of the suite may import it within the import
contracts (`sysprep` may import nothing of the suite but this). `exchange_sim` shares no code
with the suite and keeps its own copy of the same behaviour in `exchange_sim/cli.py`.

- Options are never abbreviated (a prefix of a flag is an error, not that flag).
- Usage errors are one line on stderr, ``prog: error: [subcommand: ]what was wrong``, exit 2
  (argparse's code), with a pointer to ``--help`` instead of the usage block.
- Runtime errors use the same ``prog: error: ...`` line (`fail`), exit 1 unless said otherwise.
- ``--version`` prints the installed package version; ``--log-level`` is spelt one way and
  accepts any case; ``--json`` means machine-readable output wherever a result is printed.
- Output into a pipe whose reader has gone (``watchdog status | head -1``) ends the program
  quietly with 141, as a program killed by SIGPIPE ends (`program`).
"""

from __future__ import annotations

import argparse
import functools
import os
import select
import signal
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn, ParamSpec

DISTRIBUTION = "killswitch-suite"
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # what a shell reports for a program SIGPIPE ended
P = ParamSpec("P")
LOG_LEVELS = ("debug", "info", "warning", "error")


class Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose usage errors are one line and name the subcommand.

    Abbreviated options are refused: `rearm --reset` must not mean `--reset-high-water-mark`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        root, _, command = self.prog.partition(" ")
        where = f"{command}: " if command else ""
        self.exit(EXIT_USAGE, f"{root}: error: {where}{message} (try: {self.prog} --help)\n")


def parser(prog: str, description: str) -> Parser:
    """The program's top-level parser, with ``--version``; subparsers share its class."""
    top = Parser(prog=prog, description=description)
    top.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    return top


def subcommands(
    top: argparse.ArgumentParser, *, dest: str = "command"
) -> argparse._SubParsersAction[Parser]:
    """Required subcommands whose parsers are `Parser`s too (one error format at every level)."""
    return top.add_subparsers(dest=dest, required=True, parser_class=Parser)


def version() -> str:
    """The installed distribution's version; says so when the package metadata is absent."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return f"(unknown: {DISTRIBUTION} is not installed, no package metadata)"


def add_log_level(target: argparse.ArgumentParser, default: str | None = "info") -> None:
    """``--log-level``; a default of None leaves the level to the program's config file."""
    target.add_argument(
        "--log-level",
        type=str.lower,
        default=default,
        choices=LOG_LEVELS,
        help=f"least severe level logged (default: {default or 'the config file'})",
    )


def add_json(target: argparse.ArgumentParser) -> None:
    target.add_argument("--json", action="store_true", help="machine-readable output (JSON)")


def file_in_a_directory(text: str) -> Path:
    """argparse type for a file the program will write: its directory must exist now, so a
    typo is a usage error at the start, not a failure once the program runs."""
    path = Path(text)
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{path.parent} is not a directory")
    return path


def fail(prog: str, message: str, code: int = EXIT_ERROR) -> int:
    """Write the one-line runtime error and return the exit code for `main` to return."""
    sys.stderr.write(f"{prog}: error: {message}\n")
    return code


def program(main: Callable[P, int]) -> Callable[P, int]:
    """Wrap a program's `main` so that output into a closed pipe ends it quietly.

    Python ignores SIGPIPE, so a reader that stopped early (`| head -1`) turns the next
    write into a BrokenPipeError and a traceback. Only when it is stdout's reader that has
    gone: a broken socket inside the program is still an error and is raised.
    """

    @functools.wraps(main)
    def run(*args: P.args, **kwargs: P.kwargs) -> int:
        # stdout is flushed here, where a closed pipe is handled, not at interpreter exit.
        try:
            try:
                code = main(*args, **kwargs)
            except SystemExit:  # --version, --help and usage errors end this way
                sys.stdout.flush()
                raise
            sys.stdout.flush()
        except BrokenPipeError:
            if not _stdout_reader_gone():
                raise
            # The interpreter flushes stdout again on exit: give that flush nowhere to fail.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_BROKEN_PIPE
        return code

    return run


def _stdout_reader_gone() -> bool:
    """stdout is a pipe (or socket) whose reading end is closed: the kernel reports an error
    condition on the writing end."""
    poller = select.poll()
    poller.register(sys.stdout.fileno(), select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))
