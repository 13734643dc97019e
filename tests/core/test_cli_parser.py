"""The moroccron command's parser: global options in either position, help on every
option, the exit-status table, and shell completion generated from the parser."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from moroccron.cli import build_parser, main
from moroccron.cli_completion import command_tree


def _parsers(parser: argparse.ArgumentParser, path: str = "moroccron") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, f"{path} {name}")


def test_every_option_positional_and_command_has_help():
    missing = []
    commands = 0
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if not (action.help or "").strip():
                missing.append(f"{path}: {'/'.join(action.option_strings) or action.dest}")
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    commands += 1
                    if not (choice.help or "").strip():
                        missing.append(f"{path} {choice.dest}: the command itself")
    assert commands > 25, "the walk reached the subcommands"
    assert not missing, "without help text: " + ", ".join(missing)


def test_help_ends_with_the_exit_status_table(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    table = out[out.index("exit status:") :]
    for code in ("0 ", "1 ", "2 ", "3 ", "130 ", "run --wait"):
        assert f"\n  {code}" in table, code
    assert "usage error" in table and "task's exit status" in table
    assert out.rstrip().endswith(table.rstrip()), "the table is the end of --help"


@pytest.mark.parametrize(
    "argv",
    [
        ["--db", "{db}", "jobs", "list"],
        ["jobs", "list", "--db", "{db}"],
        ["jobs", "--db", "{db}", "list"],
        ["--db", "{other}", "jobs", "list", "--db", "{db}"],  # the later one wins
    ],
)
def test_db_works_before_or_after_the_command(tmp_path, capsys, argv):
    db = f"sqlite:///{tmp_path / 'chosen.db'}"
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert main([a.format(db=db, other=other) for a in argv]) == 0
    assert capsys.readouterr().out.startswith("NAME")
    assert (tmp_path / "chosen.db").exists(), "the database named was the one opened"
    assert not (tmp_path / "other.db").exists()


def test_a_global_option_before_the_command_is_not_reset_by_the_subcommand():
    parser = build_parser()
    args = parser.parse_args(["--db", "sqlite:///x.db", "--config", "c.toml", "-v", "jobs", "show", "j"])
    assert (args.db, args.config, args.verbose) == ("sqlite:///x.db", "c.toml", True)
    args = parser.parse_args(["jobs", "show", "j", "--config", "c.toml", "-v"])
    assert (args.db, args.config, args.verbose) == (None, "c.toml", True)
    args = parser.parse_args(["jobs", "show", "j"])
    assert (args.db, args.config, args.verbose) == (None, None, False)
    args = parser.parse_args(["--db", "sqlite:///x.db", "jobs", "apply", "defs/", "--dry-run"])
    assert args.db == "sqlite:///x.db" and args.paths == ["defs/"]


def test_config_before_the_command_sets_the_api_address_of_run(tmp_path):
    """`moroccron --config F run J` reads the scheduler's address from F's bind."""
    from moroccron.cli import settings_for
    from moroccron.cli_api import client_for

    config = tmp_path / "m.toml"
    config.write_text('bind = "0.0.0.0:4517"\n')
    for argv in (["--config", str(config), "run", "job"], ["run", "job", "--config", str(config)]):
        args = build_parser().parse_args(argv)
        assert settings_for(args).bind == "0.0.0.0:4517"
        assert client_for(args).base_url == "http://127.0.0.1:4517", "a wildcard bind is reached on loopback"
    args = build_parser().parse_args(["--config", str(config), "run", "job", "--api", "http://sched:9000"])
    assert client_for(args).base_url == "http://sched:9000", "--api wins over the config"


def test_verbose_before_the_command_in_a_process(tmp_path):
    db = f"sqlite:///{tmp_path / 'm.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "moroccron.cli", "-v", "--db", db, "jobs", "list"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.startswith("NAME")
    assert "INFO alembic.runtime.migration" in done.stderr, "-v before the command turns the log on"


def test_bad_values_of_the_new_options_are_usage_errors(capsys):
    for argv, text in (
        (["jobs", "runs", "j", "--state", "failed,nope"], "nope is not a run state"),
        (["jobs", "runs", "j", "--limit", "0"], "'0' is not a whole number from 1 to 1000"),
        (["completion", "tcsh"], "invalid choice: 'tcsh'"),
    ):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
        assert text in capsys.readouterr().err


# --------------------------------------------------------------------------- completion


def _complete(script: str, words: list[str]) -> list[str]:
    """What the bash completion offers after ``words`` (the last is the word being typed)."""
    line = " ".join(f"'{w}'" if w else "''" for w in words)
    program = (
        f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _moroccron_complete; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completion_is_valid_and_completes_commands_subcommands_and_options(capsys):
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    checked = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    top = _complete(script, ["moroccron", ""])
    assert {"db", "jobs", "runs", "run", "serve", "owners", "completion", "--db", "--config", "-v"} <= set(top)
    assert set(_complete(script, ["moroccron", "jobs", ""])) >= {
        "apply",
        "list",
        "enable",
        "disable",
        "delete",
        "runs",
        "logs",
    }
    assert _complete(script, ["moroccron", "--db", "x.db", "jobs", "runs", "--st"]) == ["--state"]
    assert set(_complete(script, ["moroccron", "runs", ""])) >= {"show", "kill"}
    assert _complete(script, ["moroccron", "completion", "f"]) == ["fish"]
    assert _complete(script, ["moroccron", "run", "--api", ""]) == [], "an option's value: the shell's own files"


def test_every_command_path_is_in_each_completion_script(capsys):
    nodes = command_tree(build_parser())
    paths = [" ".join(n.path) for n in nodes]
    assert "moroccron jobs logs" in paths and "moroccron runs kill" in paths and "moroccron db downgrade" in paths
    scripts = {}
    for shell in ("bash", "zsh", "fish"):
        assert main(["completion", shell]) == 0
        scripts[shell] = capsys.readouterr().out
    for node in nodes:
        for name in node.subcommands:
            assert f"'{name}'" in scripts["fish"], name
            assert name in scripts["bash"] and name in scripts["zsh"]
    assert scripts["zsh"].startswith("#compdef moroccron") and "bashcompinit" in scripts["zsh"]
    assert "complete -F _moroccron_complete moroccron" in scripts["zsh"].replace("-o bashdefault -o default ", "")
    assert "-l 'follow'" in scripts["fish"] and "-l 'wait'" in scripts["fish"]
    for shell, binary in (("zsh", "zsh"), ("fish", "fish")):
        if shutil.which(binary):  # checked further where the shell is installed
            checked = subprocess.run([binary, "-n"], input=scripts[shell], capture_output=True, text=True, timeout=30)
            assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(
    ("run", "code"),
    [
        ({"state": "succeeded", "exit_status": 0}, 0),
        ({"state": "failed", "exit_status": 7}, 7),
        ({"state": "killed", "exit_status": 143}, 143),
        ({"state": "killed", "exit_status": None}, 1),  # killed while queued: no task, no status
        ({"state": "failed", "exit_status": 0}, 1),  # failed although the command exited 0 (e.g. a lost report)
        ({"state": "failed", "exit_status": 300}, 1),  # not a process exit status
        ({"state": "lost", "exit_status": None}, 1),
        ({"state": "skipped", "exit_status": None}, 1),
    ],
)
def test_the_exit_status_of_run_wait(run, code):
    from moroccron.cli_api import outcome_code

    assert outcome_code(run) == code


def test_docs_cli_md_describes_every_command():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    for node in command_tree(build_parser()):
        if node.subcommands:
            continue
        path = " ".join(node.path)
        assert f"`{path}" in text, f"docs/cli.md does not describe `{path}`"
