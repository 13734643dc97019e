"""``python -m moroccron.mesos.local``: the same as ``moroccron local-mesos``."""

from moroccron.mesos.local.cli import main

raise SystemExit(main())
