"""`bastion rules validate|explain|list`: check rules files and debug why a rule (didn't) fire."""

from __future__ import annotations

import argparse
import sys

HELP = "validate rules files, list rules, explain a rule's verdict on an event"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rules_command", required=True, metavar="SUBCOMMAND")
    validate = sub.add_parser(
        "validate",
        help="load and compile rules files; errors and warnings with file:line:col",
        description="Load the files in order, as `watch -r` would, and compile every rule.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("-q", "--quiet", action="store_true", help="errors only, no warnings")
    validate.set_defaults(rules_func=_validate)

    listing = sub.add_parser("list", help="the enabled rules, their priority and event types")
    listing.add_argument("-r", "--rules", action="append", metavar="FILE", help="rules file")
    listing.set_defaults(rules_func=_list)

    explain = sub.add_parser(
        "explain",
        help="which event types a rule needs, and why it did or did not match an event",
        description=(
            "Without an event: the event types the rule needs. With --field NAME=VALUE "
            "(repeatable), --event JSON (field values, or a whole Falco JSON alert; unset "
            "fields are unreadable, as in Falco) or --replay FILE --num N "
            "(event N of a .scap or bastion capture, with the state built up to it): the "
            "verdict of every check, with the value each field had."
        ),
    )
    explain.add_argument("rule", metavar="RULE", help="the rule's name")
    explain.add_argument("-r", "--rules", action="append", metavar="FILE", help="rules file")
    explain.add_argument(
        "--field", action="append", default=[], metavar="NAME=VALUE", help="a field's value"
    )
    explain.add_argument(
        "--event",
        metavar="JSON",
        help="field values as a JSON object (an alert's output_fields fit), or @FILE",
    )
    explain.add_argument("--replay", metavar="FILE", help="a .scap or bastion capture file")
    explain.add_argument("--num", type=int, metavar="N", help="the event number in --replay")
    explain.set_defaults(rules_func=_explain)


def run(args: argparse.Namespace) -> int:
    result: int = args.rules_func(args)
    return result


def _validate(args: argparse.Namespace) -> int:
    from bastion.sensor.assemble import load_rules, new_state

    rules = load_rules(args.files, new_state())
    if not args.quiet:
        for warning in rules.engine.warnings:
            sys.stderr.write(f"warning: {warning}\n")
    ruleset = rules.ruleset
    sys.stdout.write(
        f"ok: {len(ruleset.lists)} lists, {len(ruleset.macros)} macros, "
        f"{len(ruleset.rules)} rules ({len(rules.engine.rules)} enabled), "
        f"{len(rules.engine.warnings)} warnings\n"
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    from bastion.sensor.assemble import load_rules, new_state

    rules = load_rules(args.rules, new_state())
    for rule in rules.engine.rules:
        types = "any" if rule.event_types is None else ",".join(sorted(rule.event_types))
        sys.stdout.write(f"{rule.priority:<13} {rule.name}  [{types}]\n")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from bastion.errors import BastionError
    from bastion.sensor.assemble import load_rules, new_state
    from bastion.sensor.rules.explain import explain

    state = new_state()
    rules = load_rules(args.rules, state)
    rule = rules.ruleset.rules.get(args.rule)
    if rule is None:
        names = ", ".join(sorted(rules.ruleset.rules)[:10])
        raise BastionError(
            f"no rule named {args.rule!r} in {', '.join(rules.files)}",
            hint=f"rule names are case-sensitive; some: {names}",
            reference="rule-not-found",
        )
    if args.replay:
        if args.num is None:
            raise BastionError("--replay needs --num N", reference="usage")
        from bastion.sensor.replay import event_at

        event: object = event_at(args.replay, args.num, state)
        fields: object = rules.fields
    else:
        event, fields = _synthetic(args.field, args.event)
    result = explain(rule, rules.ruleset, fields, event)  # type: ignore[arg-type]
    sys.stdout.write(result.render() + "\n")
    return 0 if result.matched else 1


class _Given:
    """An event made of --field values: `type` is evt.type, every other field unreadable."""

    def __init__(self, values: dict[str, object]) -> None:
        self.values = values
        self.type = str(values.get("evt.type", ""))


class _GivenFields:
    def resolve(self, name: str, arg: str | None) -> object:
        from bastion.sensor.rules.ops import MISSING

        key = name if arg is None else f"{name}[{arg}]"
        return lambda evt: evt.values.get(key, MISSING)


def _synthetic(pairs: list[str], event_json: str | None) -> tuple[_Given, _GivenFields]:
    from bastion.errors import BastionError

    values: dict[str, object] = {}
    if event_json is not None:
        values.update(_event_values(event_json))
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise BastionError(
                f"--field {pair!r} is not NAME=VALUE",
                hint="e.g. --field proc.name=bash",
                reference="explain-event",
            )
        values[name.strip()] = _typed(text)
    return _Given(values), _GivenFields()


def _event_values(text: str) -> dict[str, object]:
    """`--event`: a JSON object of field values (null: unreadable, as in Falco's JSON)."""
    import json

    from bastion.errors import BastionError

    where = "--event"
    if text.startswith("@"):
        where = text[1:]
        try:
            with open(where) as f:
                text = f.read()
        except OSError as exc:
            raise BastionError(
                f"cannot read {where}: {exc.strerror}", where=where, reference="explain-event"
            ) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BastionError(
            f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            where=where,
            hint='give an object such as {"evt.type": "openat", "fd.name": "/etc/shadow"}',
            reference="explain-event",
        ) from None
    if isinstance(doc, dict) and isinstance(doc.get("output_fields"), dict):
        doc = doc["output_fields"]  # a whole Falco alert: its fields
    if not isinstance(doc, dict):
        raise BastionError(
            "--event must be a JSON object of field values", where=where, reference="explain-event"
        )
    return {str(k): v for k, v in doc.items() if v is not None}


def _typed(text: str) -> object:
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        return text
