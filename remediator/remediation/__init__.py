"""
Remediation: from alert episodes to decisions, through the planner and the guard.

`carry_out` is the entry point for `remediator watch`; the daemon uses
`pipeline.Remediation`.
"""

from remediator.remediation.deciding import Decider, carry_out

__all__ = ["Decider", "carry_out"]
