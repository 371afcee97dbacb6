"""
Regenerate the monitoring objects under k8s/base/monitoring/ from the in-cluster config.

The PrometheusRule, the AlertmanagerConfig and the dashboard are output of
`remediator rules` for k8s/base/config/remediator.yaml and the kustomization's
namespace, so the alerts Prometheus evaluates and the thresholds the daemon
acts on come from one file. tests/deploy/test_monitoring.py fails when a
committed copy differs from what this script writes; run it after changing
the config:

    .venv/bin/python scripts/sync_k8s.py
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s" / "base"
CONFIG = K8S / "config" / "remediator.yaml"
# file under k8s/ -> `remediator rules` arguments that produce it
OUTPUTS: dict[str, tuple[str, ...]] = {
    "monitoring/prometheusrule.yaml": ("--kind", "prometheusrule", "--namespace", "{ns}"),
    "monitoring/alertmanagerconfig.yaml": ("--kind", "alertmanagerconfig", "--namespace", "{ns}"),
    "monitoring/dashboard.json": ("--kind", "dashboard"),
}


def namespace() -> str:
    """The namespace the base kustomization installs into."""
    document = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    return str(document["namespace"])


def expected() -> dict[Path, str]:
    """Each generated file's path and the text it must have."""
    from remediator.cli import rules as rules_cli
    from remediator.config import loading

    ns = namespace()

    # The pod sets the target namespace to its own (see deployment.yaml).
    settings = loading.load_settings(CONFIG, environ={"REMEDIATOR_TARGET_NAMESPACE": ns})

    parser = argparse.ArgumentParser(prog="remediator")
    rules_cli.register(parser.add_subparsers())
    texts = {}
    for name, arguments in OUTPUTS.items():
        args = parser.parse_args(["rules", *(part.format(ns=ns) for part in arguments)])
        texts[K8S / name] = rules_cli.render(args, settings)
    return texts


def write(texts: Mapping[Path, str]) -> list[Path]:
    """Write the files whose text changed; return them."""
    changed = []
    for path, text in texts.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def main() -> int:
    for path in write(expected()):
        print(f"updated {path.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())
