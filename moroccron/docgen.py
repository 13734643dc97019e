"""Generated reference documents: ``python -m moroccron.docgen jobs [--check] [--file PATH]``.

``jobs`` writes the tables of docs/jobs.md between its markers: every field of
:class:`~moroccron.model.JobSpec` and of each type a job is made of, with its type and
default read from the model, and its description, limits, example and Mesos mapping
from :mod:`moroccron.field_docs`. The prose around the markers is written by hand.
``--check`` changes nothing and exits 1 when the file is not what would be generated
(``make docs`` regenerates it; tests/test_docs_jobs.py runs the check).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from moroccron import model
from moroccron.field_docs import FIELD_DOCS, TYPE_DOCS, FieldDoc

__all__ = ["BEGIN", "END", "DocgenError", "documented_types", "jobs_reference", "main", "splice"]

BEGIN = "<!-- BEGIN GENERATED: python -m moroccron.docgen jobs (make docs); do not edit by hand -->"
END = "<!-- END GENERATED -->"
DEFAULT_FILE = Path("docs/jobs.md")

_SCALARS = {"str": "text", "int": "integer", "float": "number", "bool": "boolean", "None": "null", "Any": "JSON value"}
_HEADINGS = {"JobSpec": "Job"}


class DocgenError(Exception):
    """The model and :mod:`moroccron.field_docs` disagree, or the target file has no markers."""


def _model_class(name: str) -> type | None:
    cls = getattr(model, name, None)
    return cls if isinstance(cls, type) and dataclasses.is_dataclass(cls) else None


def _names_in(annotation: str) -> Iterator[str]:
    yield from re.findall(r"[A-Za-z_][A-Za-z0-9_]*", annotation)


def documented_types() -> list[str]:
    """JobSpec and every model dataclass reachable from its fields, in reading order."""
    order: list[str] = []
    pending = ["JobSpec"]
    while pending:
        name = pending.pop(0)
        if name in order:
            continue
        order.append(name)
        cls = _model_class(name)
        assert cls is not None
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            pending += [n for n in _names_in(str(f.type)) if _model_class(n) is not None and n not in order]
    return order


def _anchor(name: str) -> str:
    return _HEADINGS.get(name, name).lower()


def _type_text(annotation: str) -> str:
    """A field's annotation in words: ``tuple[Volume, ...]`` is 'list of [Volume](#volume)'."""
    t = annotation.strip()
    depth, parts, start = 0, [], 0
    for i, ch in enumerate(t):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "|" and depth == 0:
            parts.append(t[start:i])
            start = i + 1
    parts.append(t[start:])
    if len(parts) > 1:
        return " or ".join(_type_text(p) for p in parts)
    if m := re.fullmatch(r"tuple\[(.+), \.\.\.\]", t):
        return "list of " + _type_text(m.group(1))
    if m := re.fullmatch(r"Mapping\[str, (.+)\]", t):
        inner = m.group(1).strip()
        return "JSON object" if inner == "Any" else f"map of text to {_type_text(inner)}"
    if t in _SCALARS:
        return _SCALARS[t]
    if _model_class(t) is not None:
        return f"[{t}](#{_anchor(t)})"
    raise DocgenError(f"no words for the type {annotation!r}: add it to moroccron.docgen")


def _json(value: Any) -> str:
    if isinstance(value, tuple):
        value = list(value)
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _default_text(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        return f"`{_json(f.default)}`"
    if f.default_factory is not dataclasses.MISSING:
        return f"`{_json(f.default_factory())}`"
    return "required"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _missing(type_name: str, names: Sequence[str]) -> list[str]:
    docs = FIELD_DOCS.get(type_name, {})
    return [n for n in names if n not in docs]


def check_coverage() -> None:
    """Every model field documented, and nothing documented that the model lacks.

    :raises DocgenError: listing every disagreement.
    """
    problems = []
    types = documented_types()
    for name in types:
        cls = _model_class(name)
        assert cls is not None
        fields = [f.name for f in dataclasses.fields(cls) if f.init]
        problems += [f"{name}.{n} has no description in moroccron/field_docs.py" for n in _missing(name, fields)]
        problems += [
            f"{name}.{n} is described in moroccron/field_docs.py but is not a field of the model"
            for n in FIELD_DOCS.get(name, {})
            if n not in fields
        ]
        if name not in TYPE_DOCS:
            problems.append(f"{name} has no entry in TYPE_DOCS of moroccron/field_docs.py")
    problems += [
        f"{name} is described in moroccron/field_docs.py but no job field uses it"
        for name in FIELD_DOCS
        if name not in types
    ]
    if problems:
        raise DocgenError("; ".join(problems))


def _table(type_name: str) -> list[str]:
    cls = _model_class(type_name)
    assert cls is not None
    heading = _HEADINGS.get(type_name, type_name)
    lines = [
        f"### {heading}",
        "",
        TYPE_DOCS[type_name],
        "",
        "| Field | Type | Default | Description | Limits | Example | Mesos |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        doc: FieldDoc = FIELD_DOCS[type_name][f.name]
        cells = [
            f"`{f.name}`",
            _type_text(str(f.type)),
            _default_text(f),
            doc.description,
            doc.limits or "-",
            f"`{doc.example}`",
            doc.mesos,
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def jobs_reference() -> str:
    """The generated part of docs/jobs.md (without the markers)."""
    check_coverage()
    lines: list[str] = []
    for name in documented_types():
        if lines:
            lines.append("")
        lines += _table(name)
    return "\n".join(lines) + "\n"


def splice(document: str, generated: str) -> str:
    """``document`` with what is between its markers replaced by ``generated``."""
    begin, end = document.find(BEGIN), document.find(END)
    if begin < 0 or end < begin:
        raise DocgenError(f"the markers are missing: the file needs a line {BEGIN!r} and, after it, {END!r}")
    return document[: begin + len(BEGIN)] + "\n" + generated + document[end:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m moroccron.docgen", description="Regenerate the generated parts of the documentation."
    )
    parser.add_argument("document", choices=["jobs"], help="jobs: the field tables of docs/jobs.md")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="the file to update (default %(default)s)")
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if the file is not what would be generated"
    )
    args = parser.parse_args(argv)
    try:
        current = args.file.read_text(encoding="utf-8")
        wanted = splice(current, jobs_reference())
    except (OSError, DocgenError) as exc:
        print(f"docgen: {args.file}: {exc}", file=sys.stderr)
        return 2
    if current == wanted:
        return 0
    if args.check:
        print(f"docgen: {args.file} is out of date: run `make docs`", file=sys.stderr)
        return 1
    args.file.write_text(wanted, encoding="utf-8")
    print(f"docgen: wrote {args.file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
