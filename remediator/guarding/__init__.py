"""The guard between a plan and its execution: dedup, cooldowns, limits, breaker, autonomy."""
