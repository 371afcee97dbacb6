"""From conditions to a plan: evaluation, actions, commands, reports, scripts."""
