"""
oha `--output-format json` (`-j` / `--json` before v1.9).

Times are seconds. oha's own `successRate` counts every HTTP response as a
success, 5xx included, so the error rate is computed from the distributions.

- Latency: `latencyPercentiles.p50/p95/p99` x 1000 (over all responses);
  oha writes null when nothing completed. v1.15+ also has
  `metrics.latency_ms`, used only when `latencyPercentiles` is absent.
- Error rate: (non-2xx responses + errors) / (responses + errors), from
  `statusCodeDistribution` and `errorDistribution`. Requests "aborted due to
  deadline" (cut off by `-z`) are neither, as in oha's own success rate.
- Success rate: oha's `summary.successRate`, as the tool gives it.
- Throughput: 2xx responses / `summary.total`: successful requests
  (`summary.requestsPerSec`, all requests including deadline aborts, when
  there is no status distribution).
- Time: none in the file.
"""

from __future__ import annotations

from collections.abc import Mapping

from remediator.bench.documents import dig
from remediator.bench.figures import Figures
from remediator.bench.numbers import MISSING, MS_PER_S
from remediator.bench.protocol import Reader

DEADLINE_ABORT = "aborted due to deadline"


def matches(value: object) -> bool:
    """Whether `value` is oha's JSON: a summary with successRate, and percentiles."""
    summary = dig(value, "summary")
    return (
        isinstance(summary, dict)
        and "successRate" in summary
        and dig(value, "latencyPercentiles") is not MISSING
    )


def read(doc: object, fig: Figures) -> None:
    """Read one oha report into `fig`."""
    _read_latencies(doc, fig)

    succeeded, failed_responses = _responses(doc, fig)
    errors = _errors(doc, fig)
    attempted = None if succeeded is None else succeeded + failed_responses + errors
    failed = failed_responses + errors
    fig.error_rate = fig.ratio("statusCodeDistribution", failed, attempted)

    fig.success_rate = fig.fraction(doc, "summary", "successRate", noted=False)

    _throughput(doc, fig, succeeded)

    if succeeded == 0:
        fig.drop_latencies("no 2xx response")


def _read_latencies(doc: object, fig: Figures) -> None:
    # Only v1.15+ has `metrics.latency_ms`; both hold the same figures.
    newer = dig(doc, "metrics", "latency_ms") is not MISSING
    if newer and dig(doc, "latencyPercentiles") is MISSING:
        fig.p50_ms = fig.latency(doc, "metrics", "latency_ms", "p50", scale=1.0)
        fig.p95_ms = fig.latency(doc, "metrics", "latency_ms", "p95", scale=1.0)
        fig.p99_ms = fig.latency(doc, "metrics", "latency_ms", "p99", scale=1.0)
        return

    fig.p50_ms = fig.latency(doc, "latencyPercentiles", "p50", scale=MS_PER_S)
    fig.p95_ms = fig.latency(doc, "latencyPercentiles", "p95", scale=MS_PER_S)
    fig.p99_ms = fig.latency(doc, "latencyPercentiles", "p99", scale=MS_PER_S)


def _responses(doc: object, fig: Figures) -> tuple[float | None, float]:
    """(2xx responses, other responses); None for 2xx when there is no distribution."""
    codes = dig(doc, "statusCodeDistribution")
    if not isinstance(codes, Mapping):
        fig.note("statusCodeDistribution missing; error rate left unset")
        return None, 0.0

    succeeded = failed = 0.0
    for code in codes:
        if not (code.isascii() and code.isdigit()):
            fig.fail(f"statusCodeDistribution.{code:.20}", "is not an HTTP status code")
        count = fig.amount(doc, "statusCodeDistribution", code, noted=False) or 0.0
        if 200 <= int(code) < 300:
            succeeded += count
        else:
            failed += count

    return succeeded, failed


def _errors(doc: object, fig: Figures) -> float:
    messages = dig(doc, "errorDistribution")
    if not isinstance(messages, Mapping):
        return 0.0

    errors = aborted = 0.0
    for message in messages:
        count = fig.amount(doc, "errorDistribution", message, noted=False) or 0.0
        if message == DEADLINE_ABORT:
            aborted += count
        else:
            errors += count

    if aborted:
        fig.note(f"{aborted:g} requests {DEADLINE_ABORT} not counted as errors")
    return errors


def _throughput(doc: object, fig: Figures, succeeded: float | None) -> None:
    total = fig.amount(doc, "summary", "total", noted=False)
    if succeeded is not None and total is not None:
        fig.throughput_rps = fig.per_second("summary.total", succeeded, total)
        fig.throughput_basis = "successful"
        return

    fig.throughput_rps = fig.amount(doc, "summary", "requestsPerSec")
    fig.throughput_basis = "all"


READER = Reader(name="oha", matches=matches, read=read)
