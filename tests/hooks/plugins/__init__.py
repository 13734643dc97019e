"""Plugins used by the plugin-system tests; each module is one kind of plugin."""
