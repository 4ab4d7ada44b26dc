"""``mondrian completion bash|zsh|tcsh``: tab completion of every command and flag, from the parser itself.

shtab walks the same argparse tree ``mondrian --help`` prints, so the completion never lags behind a
new flag. Install it once:

    mondrian completion bash > ~/.local/share/bash-completion/completions/mondrian
    mondrian completion zsh > "${fpath[1]}/_mondrian"
"""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "tcsh")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("completion", help="print a shell completion script (bash, zsh, tcsh)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shtab

    print(shtab.complete(args.root_parser, shell=args.shell))
    return 0
