"""Alerts: the webhook payload, how alerts map to conditions and actions, the generated rules."""
