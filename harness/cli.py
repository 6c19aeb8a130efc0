"""Glue that lets the Fabric CLI read as documented: `fab experiment --x=50`.

invoke gives a one-letter task parameter only a short flag (`-x 50`); `--x=50`
fails with "No idea what '--x' is!" (see LAB-NOTES). invoke builds its parser
contexts inside the Program, after the fabfile is imported, and offers no hook
for extra flag spellings, so this module wraps `ParserContext.add_arg` once: for
every one-letter argument it also registers the `--<letter>` spelling, and it drops the
short flag `--` that invoke would give an option whose letters are all taken. Nothing
else about parsing changes; `-x 50` keeps working.
"""

from __future__ import annotations

import inspect

from invoke.parser import Argument
from invoke.parser.context import ParserContext

_original_add_arg = ParserContext.add_arg


def _add_arg_with_long_letters(self: ParserContext, *args, **kwargs) -> None:
    if len(args) == 1 and isinstance(args[0], Argument) and "-" in args[0].names[1:]:
        # invoke gives an option the first free character of its dashed name as its short
        # flag; once a-z are taken (`--enforce-memory`) that is the dash, i.e. `--`, which
        # would shadow the end-of-options marker: such an option gets no short flag.
        args[0].names = tuple(n for n in args[0].names if n != "-")
    _original_add_arg(self, *args, **kwargs)
    if len(args) != 1 or not isinstance(args[0], Argument):
        return  # core-program arguments, built from keywords: none are one-letter names
    main = args[0].names[0]
    if len(main) == 1 and f"--{main}" not in self.flags:
        self.flags.alias(f"--{main}", to=f"-{main}")


def allow_long_one_letter_flags() -> None:
    """Idempotent: install the wrapper once per process."""
    if ParserContext.add_arg is not _add_arg_with_long_letters:
        ParserContext.add_arg = _add_arg_with_long_letters  # type: ignore[method-assign]


def parameters(func) -> dict:
    """A function's parameters and their defaults (`inspect.Parameter.empty` when none): a
    task's defaults, so `--scenario` can tell an option the user changed from one left at
    its default (the fabfile stays free of inspect)."""
    return {n: p.default for n, p in inspect.signature(func).parameters.items()}
