"""Executors: carry an action out (or say what would be done) and report how it went."""
