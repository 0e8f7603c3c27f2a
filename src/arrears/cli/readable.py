"""Help as users read it: every option's value named in capitals (DATE, PATH, INTEGER, TEXT),
none for a flag, instead of typer's `<str>` and `<bool>`. An explicit `metavar=` wins."""

from __future__ import annotations

from typing import Any

import typer

_BY_ANNOTATION = {str: "TEXT", int: "INTEGER", float: "NUMBER", bool: ""}

# options whose text is a business date, by parameter name
_DATE_NAMES = frozenset({"as_of", "since", "until", "day", "date", "start", "end", "on"})
_BY_TYPE = {
    "text": "TEXT",
    "integer": "INTEGER",
    "float": "NUMBER",
    "path": "PATH",
    "file": "FILE",
    "boolean": "",
    "uuid": "UUID",
    "datetime": "DATETIME",
}


def readable(command: Any) -> Any:
    """Name the value of every parameter of `command` and of its subcommands, once."""
    if getattr(command, "_readable", False):
        return command
    command._readable = True
    params = list(command.params)
    help_option = command.get_help_option(typer.Context(command))
    if help_option is not None:
        params.append(help_option)
    name_values(params)
    if hasattr(command, "commands"):
        for sub in command.commands.values():
            readable(sub)
    return command


def name_values(params: list[Any]) -> list[Any]:
    """Set each parameter's value name (not one given explicitly)."""
    for param in params:
        if param.param_type_name == "argument":  # named by its name, its type column too
            label = _label(param)
            param.display_type_rich = lambda ctx, label=label: label
            if param.metavar is None:
                param.metavar = (param.name or label).upper()
        elif param.metavar is None:
            param.metavar = metavar_of(param)
    return params


def metavar_of(param: Any) -> str:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    name = param.name or ""
    if name in _DATE_NAMES or name.endswith(("_date", "_on", "_day")):
        return "DATE"
    return _label(param)


def _label(param: Any) -> str:
    desc = getattr(param, "type_descriptor", None)  # typer's parameters describe their type
    if desc is None:
        kind = getattr(param, "type", None)
        name = getattr(kind, "name", "text").lower()
        return _BY_TYPE.get(name, name.upper())
    if desc.is_choice and desc.choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in desc.choices) + "]"
    if desc.is_path:
        return "PATH"
    if desc.is_file:
        return "FILE"
    if desc.is_datetime:
        return "DATETIME"
    annotation = desc.annotation
    if desc.is_list:
        inner = getattr(annotation, "__args__", (str,))[0]
        return _BY_ANNOTATION.get(inner, "TEXT") + "..."
    return _BY_ANNOTATION.get(annotation, getattr(annotation, "__name__", "TEXT").upper())
