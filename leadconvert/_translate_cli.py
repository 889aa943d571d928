"""``leadconvert translate``: one CRM's native payload as another CRM's, via the neutral model."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import click

from ._cli_settings import default_option, parse_settings, set_option

__all__ = ["translate"]

EXIT_OK = 0
EXIT_FAILED = 1


def _read_id_map(path: Path) -> dict[str, str]:
    """Source id -> target id, from a JSON object or a two-column CSV (``source,target``)."""
    from ._exceptions import InputError
    from ._json import load_json_document

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    if path.suffix.lower() == ".csv":
        out: dict[str, str] = {}
        for number, row in enumerate(csv.reader(io.StringIO(text)), 1):
            if not row or (
                number == 1 and [c.strip().lower() for c in row] == ["source", "target"]
            ):
                continue
            if len(row) != 2 or not row[0].strip() or not row[1].strip():
                raise InputError(f"{path}:{number}: expected two ids: source,target")
            out[row[0].strip()] = row[1].strip()
        return out
    data = load_json_document(text, str(path))
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise InputError(f"{path}: an id map is a JSON object of source id -> target id")
    return dict(data)


@click.command()
@click.option("--from", "source_name", required=True, help="The backend FILE is native to.")
@click.option("--to", "target_name", required=True, help="The backend to translate to.")
@click.option(
    "--lenient",
    is_flag=True,
    help="Warn about what the target cannot express (and leave it out) instead of refusing it.",
)
@click.option(
    "--ids",
    "id_map_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Record ids to rename: a JSON object or a CSV of source,target ids.",
)
@set_option
@default_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def translate(
    ctx: click.Context,
    source_name: str,
    target_name: str,
    lenient: bool,
    id_map_path: Path | None,
    settings: tuple[str, ...],
    defaults: tuple[str, ...],
    file: Path,
) -> None:
    """Translate FILE, a native payload of one backend, into the native payload of another.

    The target's plan (as `leadconvert plan` prints it) goes to stdout. What the target cannot
    express is reported on stderr: refused in strict mode (the default, exit code 1), a warning
    with --lenient. Record ids are CRM-specific: rename them with --ids.
    """
    # Imported here: `leadconvert --help` imports this module for the command's help line.
    from ._config import resolve_defaults
    from ._exceptions import InputError
    from ._json import dumps_json
    from ._pipeline import Mode
    from ._translate import translate as translate_payload

    # The CLI's shared state holds the loaded registry; called on its own, load one.
    registry = getattr(ctx.obj, "registry", None)
    if registry is None:
        from ._plugins import load_registry

        registry = load_registry()
    source = registry.get(source_name)
    target = registry.get(target_name)
    try:
        payload = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {file}: {exc}") from exc
    id_map = _read_id_map(id_map_path) if id_map_path is not None else None
    result = translate_payload(
        payload,
        source,
        target,
        mode=Mode.LENIENT if lenient else Mode.STRICT,
        settings=parse_settings(target, settings),
        id_map=id_map,
        defaults=resolve_defaults(target, flags=defaults),
    )
    err = sys.stderr
    for rejected in result.rejected:
        lead = rejected.conversion.lead_id
        for v in rejected.violations:
            where = f"{v.path}: " if v.path else ""
            err.write(
                f"{file}: conversion {rejected.index + 1} (lead {lead}): {where}{v.message} "
                f"[{v.rule}] ({target.name})\n"
            )
    for warning in result.warnings:
        v = warning.violation
        where = f"{v.path}: " if v.path else ""
        err.write(
            f"{file}: conversion {warning.line} (lead {warning.lead_id}): warning: {where}"
            f"{v.message} [{v.rule}]\n"
        )
    click.echo(dumps_json(result.document(), indent=1))
    click.echo(
        f"{len(result.conversions)} conversion(s) read from {source.name}, "
        f"{len(result.rejected)} not expressible on {target.name}, "
        f"{len(result.warnings)} warning(s), {len(result.plan.calls)} call(s)",
        err=True,
    )
    ctx.exit(EXIT_FAILED if result.rejected else EXIT_OK)
