"""Stage commands generated from the stage's pydantic config, so the CLI and a recipe accept the same settings.

`stage_command(app, "translate", "translate", body, ...)` reads the stage's config class from the recipe
registry and makes one option per config field: `--field-name`, its type read from the annotation (bool: a
`--x/--no-x` flag pair; a list of scalars: a repeatable option; a nested model, dict or union: one YAML/JSON
value), its default and help from the field. Every stage command also takes `--config FILE` (the YAML/JSON
mapping a recipe gives under the stage's `with:`) and repeated `--set KEY=VALUE` with dotted keys into nested
settings (`--set engine_options.compute_type=float32`).

Precedence: the config's defaults < `--config` < options given on the command line < `--set`. Only options the
user typed are passed on (click says where each value came from), so the defaults live in one place, the
config class, which also does all the validation: an invalid value is one line naming the field (hala.errors).

Per command, `Opt` keeps the established names and short flags (`--out/-o`, `--task/-t`), a positional
argument, a converter for a CLI spelling (`--length-cap 4,32`) or help text that says more than the field's
description; `Extra` declares a parameter that is not a config field (the output directory, `--json`).
Hand-written because typer builds commands from function signatures only: the signature is made from the
config class here.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Union

import typer
from pydantic import BaseModel

from hala.errors import HalaError

RESERVED = ("ctx", "config_file", "set_values")  # parameter names of the generated function itself
SCALARS = {str: "TEXT", int: "INTEGER", float: "FLOAT"}
FIELDS_PANEL = "Stage settings (also settable in --config FILE or with --set)"


@dataclass(frozen=True)
class Opt:
    """How one config field appears on the command line, where it differs from the generated default."""

    decls: tuple[str, ...] = ()  # more names: short flags and established aliases, e.g. ("-o",), ("--task", "-t")
    help: str | None = None  # replaces the field's description (only where it says more for the CLI)
    argument: bool = False  # a positional argument instead of an option
    parse: Callable[[Any], Any] | None = None  # the CLI value -> the config value (e.g. "4,32" -> a mapping)
    metavar: str | None = None
    comma: bool = False  # a list option whose values may also be comma-separated
    flatten: bool = False  # a nested model: also one option per field of it (`--max-kl` for thresholds.max_kl)


@dataclass(frozen=True)
class Extra:
    """A command parameter that is not a config field: `info` is a `typer.Option(...)` or `typer.Argument(...)`."""

    name: str
    annotation: Any
    info: Any


def out_dir(default: str | None, help: str = "Output directory.") -> Extra:
    """The `--out/-o` directory every stage command writes into (`default` None: required)."""
    return Extra("out", Path, typer.Option(... if default is None else Path(default), "--out", "-o", help=help))


@dataclass(frozen=True)
class FieldShape:
    kind: Literal["scalar", "bool", "list", "yaml"]
    metavar: str
    number_list: bool = False  # a list of numbers: values may be comma-separated (`--sweep 0,0.5,1`)


def field_shape(annotation: Any) -> FieldShape:
    """The command-line shape of a config field's annotation."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return field_shape(rest[0])
        scalars = [a for a in rest if a in SCALARS]
        lists = [a for a in rest if typing.get_origin(a) is list and typing.get_args(a)[0] in scalars]
        if len(scalars) == 1 and len(lists) == 1 and len(rest) == 2:  # `str | list[str]`: a repeatable option
            return field_shape(lists[0])
        return FieldShape("yaml", "YAML")
    if annotation is bool:
        return FieldShape("bool", "")
    if annotation in SCALARS:
        return FieldShape("scalar", SCALARS[annotation])
    if origin is Literal:
        return FieldShape("scalar", "[" + "|".join(str(a) for a in args) + "]")
    if origin is list and args:
        inner = field_shape(args[0])
        if inner.kind == "scalar":
            return FieldShape("list", inner.metavar, number_list=args[0] in (int, float))
    return FieldShape("yaml", "YAML")


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def parse_value(text: str) -> Any:
    """A `--set` / `KEY=VALUE` value: JSON when it parses (numbers, true/false, null, "quoted"), a YAML flow list or
    mapping (`[empty, urls]`, `{ratio: 4}`), else the text itself. Not YAML scalars: YAML 1.1 reads `no` (a
    language code) as false and `1e-3` as a string."""
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    if text[:1] in ("[", "{"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            pass
    return text


def is_text(info: Any) -> bool:
    """A field whose value is text (`str`, `str | None`, a Literal of strings): a `--set` value stays as typed
    (`--set label=2024` is the label '2024', not a number the field would refuse)."""
    annotation = info.annotation
    if typing.get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = rest[0] if len(rest) == 1 else None
    if typing.get_origin(annotation) is Literal:
        return all(isinstance(a, str) for a in typing.get_args(annotation))
    return annotation is str


def key_values(values: list[str] | None, option: str) -> dict[str, Any]:
    """`KEY=VALUE` pairs (VALUE as in `parse_value`) as a mapping: the spelling of `--option`, `--ray-option`."""
    out: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise HalaError(f"{option}: expected KEY=VALUE, got '{item}'")
        out[key.strip()] = parse_value(raw)
    return out


def set_dotted(data: dict, key: str, value: Any, option: str = "--set") -> None:
    """data[a][b][c] = value for key 'a.b.c', making the mappings on the way; a number indexes a list."""
    parts = key.split(".")
    if not all(p.strip() for p in parts):
        raise HalaError(f"{option}: '{key}' is not a dotted key (e.g. engine_options.compute_type)")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise HalaError(
                    f"{option} {key}: '{'.'.join(parts[:i])}' is a list of {len(node)}; '{part}' is not an index in it"
                )
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
            continue
        if not isinstance(node, dict):
            raise HalaError(f"{option} {key}: '{'.'.join(parts[:i])}' is {node!r}, not a mapping")
        if last:
            node[part] = value
        else:
            child = node.get(part)
            if isinstance(child, BaseModel):
                child = child.model_dump()
            if not isinstance(child, (dict, list)):
                child = {}
            node[part] = child
            node = child


def load_config_file(path: Path) -> dict[str, Any]:
    """The stage settings of a YAML or JSON file: the mapping a recipe writes under the stage's `with:`."""
    import yaml

    if not path.is_file():
        raise HalaError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML 1.1 reads JSON too
    except yaml.YAMLError as e:
        raise HalaError(f"{path}: not valid YAML/JSON ({str(e).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise HalaError(f"{path}: expected a mapping of the stage's settings, got {type(data).__name__}")
    return data


def _help(info: Any, override: Opt, required: bool, shape: FieldShape, name: str) -> str:
    text = override.help or (info.description or "")
    if shape.kind == "yaml" and override.parse is None:
        text += f" (a YAML/JSON value; one key: --set {name}.KEY=VALUE)"
    elif shape.kind == "list":
        text += " (repeatable" + (", or comma-separated)" if shape.number_list or override.comma else ")")
    if required:
        text += " [required]"
    return text.strip()


def _default_shown(info: Any, shape: FieldShape) -> Any:
    """The default the help shows; never passed on (the config class fills its own defaults)."""
    if info.is_required():
        return None
    default = info.get_default(call_default_factory=True)
    if shape.kind == "yaml" or isinstance(default, BaseModel):
        return None
    if shape.kind == "list":
        if default is None:
            return None
        return list(default) if isinstance(default, (list, tuple)) else [default]
    return default


def field_parameter(name: str, info: Any, override: Opt, option: str | None = None) -> inspect.Parameter:
    """The typer parameter of config field `name` (`option`: its long option, default `--name-with-dashes`)."""
    shape = field_shape(info.annotation)
    default = _default_shown(info, shape)
    help_text = _help(info, override, info.is_required(), shape, name)
    if shape.kind == "bool":
        annotation: Any = bool
    elif shape.kind == "list":
        annotation = list[str]
    else:
        annotation = str  # values go to the config class as given: it converts and validates them
    if override.argument:
        param = typer.Argument(default, help=help_text, metavar=override.metavar or name.upper(), show_default=False)
    else:
        option = option or option_name(name)
        decls = [f"{option}/--no-{option[2:]}" if shape.kind == "bool" else option, *override.decls]
        param = typer.Option(
            default,
            *decls,
            help=help_text,
            metavar=None if shape.kind == "bool" else override.metavar or shape.metavar,
            show_default=default is not None and default != [],
            rich_help_panel=FIELDS_PANEL,
        )
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=param, annotation=annotation)


def flat_parameters(name: str, info: Any) -> list[inspect.Parameter]:
    """One option per field of the nested model `name` (`Opt(flatten=True)`), named by the inner field: the
    parameter `thresholds__max_kl` is `--max-kl` and sets `thresholds.max_kl`."""
    model = info.annotation
    assert isinstance(model, type) and issubclass(model, BaseModel), f"{name}: flatten needs a nested model"
    return [
        field_parameter(
            f"{name}__{sub}", sub_info, Opt(help=f"{sub_info.description or ''} ({name}.{sub})"), option_name(sub)
        )
        for sub, sub_info in model.model_fields.items()
    ]


def cli_value(value: Any, info: Any, override: Opt) -> Any:
    """A value as the command line gave it -> the value for the config (before the config validates it)."""
    if override.parse is not None:
        return override.parse(value)
    shape = field_shape(info.annotation)
    if shape.kind == "list":
        values = list(value or [])
        if shape.number_list or override.comma:
            values = [v.strip() for item in values for v in item.split(",") if v.strip()]
        return values
    if shape.kind == "yaml":
        return parse_value(value)
    return value


def refuse_empty_input(command: str, inputs: Any, n_read: int, n_unreadable: int = 0) -> None:
    """An input without a single record is a warning and a non-zero exit (exit 1, after the stage's own summary):
    "0 kept of 0, exit 0" would let a script or a scheduler carry on with an empty product. An input whose lines
    were all unreadable is reported by the stage's rejects instead, and exits the same way."""
    if n_read == 0:
        names = ", ".join(map(str, inputs)) if isinstance(inputs, (list, tuple)) else str(inputs)
        why = f"{n_unreadable} unreadable line(s), see the rejects file" if n_unreadable else "an empty input"
        typer.echo(f"warning: {command}: no records in {names} ({why}); nothing was produced", err=True)
        raise typer.Exit(1)


def stage_command(
    app: typer.Typer,
    command: str,
    stage_type: str,
    body: Callable[..., None],
    *,
    fields: dict[str, Opt] | None = None,
    extras: list[Extra] | None = None,
    prepare: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> Callable[..., None]:
    """Register `command` on `app`: the options of stage `stage_type`'s config, `--config`, `--set`, `extras`.

    `prepare(data, extras)` may fold CLI-only parameters into the settings (before `--set`, which always wins),
    or end the command for a mode that needs no config (`hala filter --list-rules`, `hala eval translation --hyp
    --ref`: raise `typer.Exit`); `body(config, **extras)` gets the validated config and the extra parameters.
    """
    from hala.recipe.registry import get_stage_type

    config_class = get_stage_type(stage_type).config_class()
    fields, extras = fields or {}, extras or []
    unknown = set(fields) - set(config_class.model_fields)
    assert not unknown, f"{command}: {sorted(unknown)} are not fields of {config_class.__name__}"
    clash = {e.name for e in extras} & (set(config_class.model_fields) | set(RESERVED))
    assert not clash, f"{command}: extra parameters {sorted(clash)} clash with config fields"

    params = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)]
    arguments = [n for n, o in fields.items() if o.argument]  # positional arguments keep their declared order
    options = [n for n in config_class.model_fields if n not in arguments]
    field_params = [field_parameter(n, config_class.model_fields[n], fields.get(n, Opt())) for n in arguments + options]
    extra_params = [
        inspect.Parameter(e.name, inspect.Parameter.KEYWORD_ONLY, default=e.info, annotation=e.annotation)
        for e in extras
    ]
    flat = {n: flat_parameters(n, config_class.model_fields[n]) for n, o in fields.items() if o.flatten}
    field_params += [p for ps in flat.values() for p in ps]
    params += field_params[: len(arguments)] + extra_params + field_params[len(arguments) :]
    names = [
        n.strip()
        for p in params
        if isinstance(p.default, typer.models.OptionInfo)
        for d in p.default.param_decls
        for n in d.split("/")
        if n.strip()
    ]
    assert len(names) == len(set(names)), f"{command}: an option name is used twice: {sorted(names)}"
    params.append(
        inspect.Parameter(
            "config_file",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Path,
            default=typer.Option(
                None,
                "--config",
                "-c",
                metavar="FILE",
                help="YAML/JSON file with this stage's "
                "settings (what a recipe gives under the stage's `with:`); options given here "
                "override it.",
            ),
        )
    )
    params.append(
        inspect.Parameter(
            "set_values",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=list[str],
            default=typer.Option(
                None,
                "--set",
                metavar="KEY=VALUE",
                help="Set any setting, nested keys dotted "
                "(e.g. --set engine_options.compute_type=float32); VALUE is read as JSON or a YAML "
                "[list]/{mapping} when it parses. Repeatable; wins over the options and --config.",
            ),
        )
    )

    def run_command(**kwargs: Any) -> None:
        ctx: typer.Context = kwargs.pop("ctx")
        data = load_config_file(kwargs["config_file"]) if kwargs.get("config_file") else {}
        for name, info in config_class.model_fields.items():
            source = ctx.get_parameter_source(name)
            if source is not None and source.name != "DEFAULT":  # given on the command line (or the environment)
                data[name] = cli_value(kwargs[name], info, fields.get(name, Opt()))
        for name, ps in flat.items():
            for p in ps:
                if ctx.get_parameter_source(p.name).name != "DEFAULT":
                    set_dotted(data, f"{name}.{p.name.split('__', 1)[1]}", kwargs[p.name])
        given = {e.name: kwargs[e.name] for e in extras}
        if prepare is not None:
            prepare(data, given)
        for item in kwargs.get("set_values") or []:
            key, sep, raw = item.partition("=")
            if not sep:
                raise HalaError(f"--set: expected KEY=VALUE (e.g. engine_options.compute_type=float32), got '{item}'")
            key = key.strip()
            info = config_class.model_fields.get(key)
            set_dotted(data, key, raw if info is not None and is_text(info) else parse_value(raw))
        # A ValidationError is a user error under hala's one error rule (hala.errors): one line naming the field,
        # formatted as for a recipe or a record.
        body(config_class.model_validate(data), **given)

    run_command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run_command.__annotations__ = {p.name: p.annotation for p in params}
    run_command.__doc__ = body.__doc__  # the command's help
    run_command.__name__ = f"{command.replace('-', '_')}_cmd"
    run_command.config_class = config_class  # type: ignore[attr-defined]  # for tests and `--help` checks
    run_command.stage_type = stage_type  # type: ignore[attr-defined]
    app.command(command)(run_command)
    return run_command
