"""Built-in trigger plugins: tell systems outside moroccron that a run ended.

Each module here is a plugin of its own, listed in
:data:`moroccron.hooks.manager.BUILTIN_PLUGINS`, so each can be blocked by name
(``MOROCCRON_DISABLE_PLUGINS``) without touching the others:

- :mod:`moroccron.triggers.http` (``http-trigger``): POSTs a JSON event to configured URLs.
"""
