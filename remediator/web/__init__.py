"""The daemon's HTTP side: one aiohttp app for the webhook, the API, /metrics and probes."""
