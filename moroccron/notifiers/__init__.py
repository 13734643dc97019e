"""Notifiers built into moroccron (email, PagerDuty and Slack are separate distributions)."""
