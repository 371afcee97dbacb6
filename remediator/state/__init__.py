"""Backends that remember episodes, decisions and target states (see `state.base`)."""
