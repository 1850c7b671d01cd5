"""`riskmap alerts`: the dynamic risk prompts of the published build (or of any kept build) in the terminal."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geo.store import Store


def add_parser(sub: Any, store_arg: Callable, date_type: Callable, handler: Callable) -> None:
    a = sub.add_parser("alerts", help="dynamic risk prompts: what changed and what needs attention")
    a.add_argument("--since", type=date_type, help="only prompts first seen or closed on or after this date")
    a.add_argument("--region", help="adcode: prompts of this province, city or county")
    a.add_argument("--severity", help="urgent, important or general (紧急/重要/一般): that and graver")
    a.add_argument("--status", default="all", choices=["open", "closed", "all"])
    a.add_argument("--build", help="a snapshot id (default: the published build)")
    a.add_argument("--lang", default="zh", choices=["zh", "en"])
    a.add_argument("--json", action="store_true", help="print the JSON that GET /alerts returns")
    store_arg(a)
    a.set_defaults(func=handler)


def listing(store: Store, args: argparse.Namespace) -> dict[str, Any]:
    """The same document as `GET /alerts` for the same filters."""
    from geo.prompts.listing import listing as doc

    return doc(
        store,
        build=args.build,
        since=args.since,
        region=args.region,
        severity=args.severity,
        status=args.status,
    )


def run(args: argparse.Namespace, store: Store) -> int:
    from geo.prompts import load_rules

    body = listing(store, args)
    if args.json:
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return 0
    rules = load_rules()
    print(f"build {body['build']} (as of {body['as_of']}): {body['count']} prompts")
    for p in body["prompts"]:
        sev = rules.severity_label(p["severity"], args.lang)
        when = p["first_seen"]["date"] if p["status"] == "open" else f"closed {p['closed']['date']}"
        print(f"[{sev}] {p['status']:6s} {when:17s} {p['text'][args.lang]}  ({p['id']})")
    return 0
