"""Notifications of decisions to people: a Slack incoming webhook and a generic JSON webhook."""
