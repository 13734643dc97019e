"""Frequent checks: a health probe every 10 seconds and an hourly cleanup."""

from moroccron import Job

health = Job(
    name="health-check",
    description="Probe the local loopback interface every 10 seconds",
    command="echo ok from $(hostname)",
    schedule="*/10 * * * * *",  # six fields: seconds first
    owners=["sre@example.com"],
    catchup="none",
    concurrency="forbid",
    timeout_seconds=8,
    labels={"team": "sre"},
)

cleanup = Job(
    name="tmp-cleanup",
    description="Remove week-old scratch files from the sandbox",
    command="find . -maxdepth 1 -name '*.tmp' -mtime +7 -print -delete; echo cleaned",
    schedule="@hourly",
    owners=["sre@example.com"],
    catchup="none",
    labels={"team": "sre"},
)
