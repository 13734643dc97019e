"""A local Mesos master and agents in one Python process, speaking the v1 scheduler API.

``moroccron serve`` runs it in development when no master is given, and the test-suite
runs moroccron against it. It is meant to be a faithful stand-in for a real cluster, and
as strict and as unkind as one: the framework talks to it over real HTTP with the same
calls, events, headers, status codes and JSON shapes as a Mesos 1.x master, and where
Mesos makes a choice (which state an unknown task reconciles to, which updates need an
acknowledgement, what a task must look like, when it says nothing at all) this package
makes the same one, and says so. A framework that works here has met:

* the master's task validation (:mod:`.validation`): TASK_ERROR for a volume that is
  not exactly one of host_path/image/source, fractional GPUs, resources the offer does
  not hold (unreserved and reserved resources are different resources), a reused id;
* each containerizer's reading of CommandInfo (:mod:`.containers`): DOCKER passes
  ``value`` *and* ``arguments`` to the image, a shell without a command fails;
* an ACCEPT answered 202 before it is handled: what goes wrong comes as status updates;
* failover as it is (:mod:`.controls`): agents that re-register late, reconciliation
  requests dropped without an answer meanwhile, agents partitioned and coming back with
  their tasks still running, frameworks removed for good;
* GPU agents kept for GPU-aware frameworks, reservations offered only to their role,
  maintenance windows in offers and inverse offers, ACLs on task users, HTTP
  authentication and TLS, when asked for.

Agents run tasks as real subprocesses (one process group each) in a sandbox
``work_dir/agents/<agent>/frameworks/<fw>/executors/<task>/runs/<container>`` with a
``runs/latest`` symlink, writing ``stdout`` and ``stderr`` files there, like the Mesos
command executor. There is no container engine: images the master was given run on the
host (the host's filesystem standing in for the image), others fail to pull.

Documented simplifications (what a real cluster does differently):

* the master state is in memory: :meth:`LocalMaster.restart_master` simulates a failover
  that recovered frameworks and agents from the registry;
* static reservations only, and only LAUNCH operations (RESERVE, CREATE, ... get 400);
* no custom executors, no task groups, no secrets, no DOCKER volumes;
* IPv4 only.

Modules: :mod:`.master` (state, threads, life cycle), :mod:`.calls` (scheduler calls),
:mod:`.allocator`, :mod:`.executor` (running tasks), :mod:`.containers`,
:mod:`.validation`, :mod:`.resources`, :mod:`.agents`, :mod:`.fetcher`,
:mod:`.controls` (test controls), :mod:`.endpoints` (state JSON), :mod:`.http`,
:mod:`.cli`.
"""

from __future__ import annotations

from moroccron.mesos.local.agents import AgentSpec, parse_attributes
from moroccron.mesos.local.cli import build_parser, main
from moroccron.mesos.local.containers import ImageConfig, LaunchPlan
from moroccron.mesos.local.http import (
    _utf8_prefix as _utf8_prefix,  # for the tests of the files API
)
from moroccron.mesos.local.master import LocalMaster
from moroccron.mesos.local.resources import ResourceSet, RoleResources
from moroccron.mesos.local.state import MESOS_VERSION, TERMINAL_STATES

__all__ = [
    "MESOS_VERSION",
    "TERMINAL_STATES",
    "AgentSpec",
    "ImageConfig",
    "LaunchPlan",
    "LocalMaster",
    "ResourceSet",
    "RoleResources",
    "build_parser",
    "main",
    "parse_attributes",
]
