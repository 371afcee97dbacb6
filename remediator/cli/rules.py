"""
`remediator rules`: print what Prometheus, Alertmanager and Grafana need.

Everything comes from the same settings the daemon and `remediator watch`
read, so a threshold changed in the config changes the alerts, the
dashboard's threshold lines and the route together. The committed files
under prometheus/, alertmanager/ and grafana/ are this command's output for
the default config; a test keeps them equal.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remediator.errors import InputError

if TYPE_CHECKING:
    from remediator.config.settings import Settings

KINDS: tuple[str, ...] = (
    "rules",
    "prometheusrule",
    "alertmanager-config",
    "alertmanagerconfig",
    "dashboard",
    "dashboard-configmap",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rules",
        help="print the Prometheus rules (or the Alertmanager route, or the dashboard)",
        description="Print the Prometheus alerting rules generated from the config, or, "
        "with --kind, the same as a PrometheusRule, the Alertmanager route as "
        "alertmanager.yml or as an AlertmanagerConfig, the Grafana dashboard or its "
        "ConfigMap for the kube-prometheus-stack sidecar.",
    )
    parser.add_argument("--config", metavar="PATH", help="YAML config file")
    parser.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument("--kind", choices=KINDS, default="rules",
                        help="what to print (default: rules)")
    parser.add_argument("--namespace", metavar="NS",
                        help="prometheusrule, alertmanagerconfig, dashboard-configmap: the "
                        "namespace of the object, which for alertmanagerconfig must be the "
                        "remediator's own (default there: default)")
    parser.add_argument("--webhook-url", metavar="URL",
                        help="alertmanager-config: the remediator's webhook "
                        "(default http://127.0.0.1:8080/webhook/alertmanager)")
    parser.add_argument("--credentials-file", metavar="PATH",
                        help="alertmanager-config: file holding the bearer token")
    parser.add_argument("--service", metavar="NAME",
                        help="alertmanagerconfig: the remediator's Service (default remediator)")
    parser.add_argument("--port", type=int, metavar="N",
                        help="alertmanagerconfig: the Service port (default 8080)")
    parser.add_argument("--secret", metavar="NAME",
                        help="alertmanagerconfig: Secret whose key `token` holds the bearer "
                        "token (default remediator-webhook)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from remediator.config import loading

    settings = loading.load_settings(args.config)
    text = render(args, settings)

    if args.output:
        write_atomically(Path(args.output), text)
    else:
        sys.stdout.write(text)
    return 0


def render(args: argparse.Namespace, settings: Settings) -> str:
    """The text of the requested kind."""
    import dataclasses
    import json

    from remediator.alerting import routing, rules

    kind = args.kind
    if kind == "rules":
        return rules.render(rules.rule_file(settings))
    if kind == "prometheusrule":
        return rules.render(rules.prometheus_rule(settings, namespace=args.namespace))
    if kind == "alertmanager-config":
        delivery = routing.Delivery()
        if args.webhook_url:
            delivery = dataclasses.replace(delivery, url=args.webhook_url)
        if args.credentials_file:
            delivery = dataclasses.replace(delivery, credentials_file=args.credentials_file)
        return routing.alertmanager_config(settings, delivery)
    if kind == "alertmanagerconfig":
        operator = routing.OperatorDelivery()
        for flag, field in (("namespace", "namespace"), ("service", "service"),
                            ("port", "port"), ("secret", "secret_name")):
            value = getattr(args, flag)
            if value is not None:
                operator = dataclasses.replace(operator, **{field: value})
        if not 0 < operator.port < 65536:
            raise InputError("command line", "--port", f"{operator.port} is not a port")
        return rules.render(routing.alertmanager_config_resource(settings, operator))

    from remediator.alerting import dashboard

    if kind == "dashboard":
        return json.dumps(dashboard.dashboard(settings), indent=2, sort_keys=True) + "\n"
    return rules.render(dashboard.config_map(settings, namespace=args.namespace))


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` whole, so a reader never sees half a file."""
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as error:
        raise InputError(str(path), None, f"cannot be written: {error.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        # mkstemp makes the file private; these files are meant to be read.
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise InputError(str(path), None, f"cannot be written: {error.strerror}") from None
