"""A nightly ETL: extract two sources, transform them together, load, then report.

extract-orders ─┐
                ├─> transform ─> load-warehouse ─> daily-report
extract-users ──┘
"""

from moroccron import Job, Owner, Resources

data_team = Owner(id="data-oncall@example.com", name="Data on-call", slack="#data-alerts")
analytics = Owner(
    id="analytics@example.com", name="Analytics", preferences={"failure": ["email"], "recovery": [], "skipped": []}
)

OWNERS = ["data-oncall@example.com"]

extract_orders = Job(
    name="etl-extract-orders",
    description="Copy yesterday's orders out of the shop database",
    command='echo "extracting orders for $(date -u -d yesterday +%F)"; sleep 2; echo "42117 rows"',
    schedule="0 2 * * *",
    timezone="Europe/London",
    owners=OWNERS,
    resources=Resources(cpus=0.5, mem=256),
    retries=2,
    retry_delay_seconds=120,
    timeout_seconds=3600,
    starting_deadline_seconds=1800,
    labels={"team": "data", "pipeline": "nightly-etl"},
)

extract_users = Job(
    name="etl-extract-users",
    description="Copy the users table",
    command='echo "extracting users"; sleep 1; echo "9120 rows"',
    schedule="0 2 * * *",
    timezone="Europe/London",
    owners=OWNERS,
    resources=Resources(cpus=0.25, mem=128),
    retries=2,
    labels={"team": "data", "pipeline": "nightly-etl"},
)

transform = Job(
    name="etl-transform",
    description="Join orders and users into the sales fact table",
    command='echo "transforming"; sleep 2',
    parents=["etl-extract-orders", "etl-extract-users"],
    owners=OWNERS,
    resources=Resources(cpus=1, mem=512),
    timeout_seconds=7200,
    labels={"team": "data", "pipeline": "nightly-etl"},
)

load = Job(
    name="etl-load-warehouse",
    description="Load the sales fact table into the warehouse",
    command='echo "loading"; sleep 1',
    parents=["etl-transform"],
    owners=OWNERS,
    notify={"on_failure": ["slack:#data-alerts"]},
    labels={"team": "data", "pipeline": "nightly-etl"},
)

report = Job(
    name="daily-report",
    description="Mail the daily sales report",
    command='echo "report sent"',
    parents=["etl-load-warehouse"],
    owners=["analytics@example.com"],
    labels={"team": "analytics"},
)
