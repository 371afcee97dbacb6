"""
Is an object managed by a GitOps tool, which would revert our change?

Argo CD marks what it tracks with the `argocd.argoproj.io/tracking-id`
annotation (annotation tracking, the default since Argo CD 3) or the
`argocd.argoproj.io/instance` label (label tracking with a custom key). Its
older default key, `app.kubernetes.io/instance`, is not used here: Helm sets
that label on everything it installs, so it cannot tell Argo CD apart.
Flux labels what its Kustomizations and HelmReleases apply.
"""

from __future__ import annotations

from remediator.k8s.changes import Change, Context, Status, annotations_of, labels
from remediator.k8s.client import JsonObject
from remediator.planning.actions import Target

_ARGO_ANNOTATIONS = ("argocd.argoproj.io/tracking-id",)
_ARGO_LABELS = ("argocd.argoproj.io/instance",)
_FLUX_LABELS = ("kustomize.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/name")


def manager(obj: JsonObject) -> str | None:
    """`"Argo CD"` or `"Flux"` when one of them manages `obj`, else None."""
    if any(key in annotations_of(obj) for key in _ARGO_ANNOTATIONS):
        return "Argo CD"
    if any(key in labels(obj) for key in _ARGO_LABELS):
        return "Argo CD"
    if any(key in labels(obj) for key in _FLUX_LABELS):
        return "Flux"
    return None


def warning(obj: JsonObject, what: str) -> str | None:
    """The warning to record when we change `obj` anyway, or None."""
    tool = manager(obj)
    if tool is None:
        return None
    return f"{what} is managed by {tool}, which may revert this change at its next sync"


def gate(ctx: Context, obj: JsonObject, target: Target) -> tuple[Change | None, tuple[str, ...]]:
    """
    Apply `execution.gitops` to a change of `obj`.

    Returns a skip when the mode is `skip`, otherwise the warnings to record.
    """
    tool = manager(obj)
    if tool is None:
        return None, ()
    if ctx.gitops == "skip":
        return Change(
            Status.UNCHANGED, target, "gitops_managed",
            f"{target.ref} is managed by {tool}; execution.gitops is 'skip', so it is left"
            " to the GitOps tool",
            live=obj,
        ), ()
    return None, (warning(obj, target.ref) or "",)
