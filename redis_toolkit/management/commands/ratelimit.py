"""`manage.py ratelimit rules | status RULE KEY | reset RULE KEY`: inspect and unlock rate limits."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from redis_toolkit.ratelimit import core
from redis_toolkit.ratelimit.rules import Rule, get_rule


class Command(BaseCommand):
    help = "Show rate-limit rules and how often they refused; show or reset one key of a rule."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("rules", help="every rule, its limits, failure policy and refusal count")
        for action, text in (("status", "what KEY has used of RULE"), ("reset", "forget what KEY used of RULE")):
            command = sub.add_parser(action, help=text)
            command.add_argument("rule", help="a rule name from RATE_LIMITS, e.g. auth.login")
            command.add_argument("key", help="as the caller counts it, e.g. ip:203.0.113.9, username:alice, 42")

    def handle(self, *args, action: str, **options):
        if action == "rules":
            return self.rules()
        try:
            rule = get_rule(options["rule"])
        except ValueError as exc:  # names the known rules
            raise CommandError(str(exc)) from None
        if action == "status":
            return self.status(rule, options["key"])
        existed = core.rate_limit_reset(rule.name, options["key"])
        self.stdout.write(f"{rule.name} {options['key']}: " + ("reset" if existed else "nothing was counted"))

    def rules(self) -> None:
        for rule, denied in core.rate_limit_rules():
            policy = "fail open" if rule.fail_open else "fail closed"
            self.stdout.write(f"{rule.name}: {rule.limits} ({policy}); refused {denied}; {rule.variable}")

    def status(self, rule: Rule, key: str) -> None:
        try:
            windows = core.rate_limit_status(rule.name, key)
        except core.RateLimitUnavailable as exc:
            raise CommandError(str(exc)) from None
        refused = core.rate_limit_hits().get(rule.name, 0)
        self.stdout.write(f"{rule.name} {key}: {'allowed' if min(w.remaining for w in windows) else 'refused'} now")
        for state in windows:
            used = state.limit - state.remaining
            line = f"  {state.limit} per {state.period:g}s: {used} used, {state.remaining} left"
            if used:
                line += f", whole limit back in {state.reset:.1f}s"
            self.stdout.write(line)
        self.stdout.write(f"  refused (all keys, this rule): {refused}")
