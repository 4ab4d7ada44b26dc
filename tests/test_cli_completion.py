"""``mondrian completion bash`` gives bash a completion that knows every command and its flags
(generated from the parser, so a new flag is completed the day it is added)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cli_support import mondrian


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")
def test_bash_completes_commands_and_flags(tmp_path: Path) -> None:
    script = mondrian(["completion", "bash"], tmp_path)
    assert script.returncode == 0, script.stderr
    (tmp_path / "mondrian.bash").write_text(script.stdout)
    probe = ('source "$1"; complete -p mondrian; '
             'COMP_WORDS=(mondrian cu); COMP_CWORD=1; _shtab_mondrian; echo "commands: ${COMPREPLY[*]}"; '
             'COMP_WORDS=(mondrian cull REVIEW --); COMP_CWORD=3; _shtab_mondrian; echo "flags: ${COMPREPLY[*]}"; '
             'COMP_WORDS=(mondrian review x --write-sidecars ""); COMP_CWORD=4; _shtab_mondrian; '
             'echo "choices: ${COMPREPLY[*]}"')
    out = subprocess.run(["bash", "-c", probe, "bash", str(tmp_path / "mondrian.bash")], capture_output=True,
                         text=True, timeout=60)
    lines = out.stdout.splitlines()
    assert lines[0].startswith("complete ") and lines[0].endswith(" mondrian"), out.stderr
    assert lines[1] == "commands: cull"
    assert {"--pick", "--reject", "--stars", "--undo"} <= set(lines[2].split()[1:])
    assert set(lines[3].split()[1:]) >= {"lightroom", "darktable"}


def test_an_unknown_shell_is_refused_by_name(tmp_path: Path) -> None:
    bad = mondrian(["completion", "fish"], tmp_path)
    assert bad.returncode == 2 and "invalid choice: 'fish'" in bad.stderr
