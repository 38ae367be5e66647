"""Notifications of moves and incidents (Slack)."""
