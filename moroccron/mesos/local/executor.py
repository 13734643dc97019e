"""The agents' side: running a task as the command executor or a container would.

Mixed into :class:`~moroccron.mesos.local.master.LocalMaster`. Each task gets a runner
thread that makes its sandbox, decides what to run (:mod:`containers`), fetches its
URIs, starts the process in a process group of its own and reports its states as
reliable status updates; kills are SIGTERM, then SIGKILL after the grace period.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moroccron.mesos.local.containers import plan_launch
from moroccron.mesos.local.fetcher import fetch_uri
from moroccron.mesos.local.resources import RoleResources
from moroccron.mesos.local.state import _Agent, _Framework, _LaunchFailure, _Task

log = logging.getLogger("moroccron.mesos.local")


@dataclass
class _Command:
    """What the executor will exec, once the sandbox is ready."""

    argv: list[str]
    executable: str
    env: dict[str, str]
    user: pwd.struct_passwd | None
    cwd: Path


def _signal_name(number: int) -> str:
    try:
        return signal.strsignal(number) or f"signal {number}"
    except ValueError:
        return f"signal {number}"


class _Executor:
    """Launch, run, kill and forget tasks."""

    def _launch(self, fw: _Framework, agent: _Agent, ti: dict[str, Any], resources: RoleResources, role: str) -> None:
        task_id = ti["task_id"]["value"]
        container_id = str(uuid.uuid4())
        sandbox = (
            self.work_dir / "agents" / agent.id / "frameworks" / fw.id / "executors" / task_id / "runs" / container_id
        )
        task = _Task(
            id=task_id,
            framework_id=fw.id,
            agent_id=agent.id,
            info=ti,
            resources=resources,
            sandbox=sandbox,
            container_id=container_id,
            launched=time.monotonic(),
            allocation_role=role,
        )
        agent.used = agent.used + resources
        fw.tasks[task_id] = task
        agent.tasks[task.key] = task
        self._all_tasks.append(task)
        if not self.run_tasks:
            return
        task.thread = threading.Thread(
            target=self._run_task, args=(task,), name=f"moroccron-local-task-{task_id}", daemon=True
        )
        log.info("launching task %s of framework %s on agent %s (%s)", task_id, fw.id, agent.id, resources)
        task.thread.start()

    def _run_task(self, task: _Task) -> None:
        """Runner thread: what the agent and the command executor do for one task."""
        try:
            command = self._prepare(task)
        except _LaunchFailure as exc:
            if exc.after_starting:  # an executor that started, then failed
                self._agent_update(task, "TASK_STARTING")
            self._agent_update(task, "TASK_FAILED", source=exc.source, reason=exc.reason, message=exc.message)
            return
        except Exception as exc:  # a bug or an OS error: still tell the framework
            log.exception("preparing task %s failed", task.id)
            self._agent_update(
                task,
                "TASK_FAILED",
                source="SOURCE_AGENT",
                reason="REASON_CONTAINER_LAUNCH_FAILED",
                message=f"Failed to launch container: {exc}",
            )
            return
        # The command executor reports TASK_STARTING before it forks the command.
        self._agent_update(task, "TASK_STARTING")
        with self._lock:
            if task.removed:
                return
            if task.kill_requested:
                self._agent_update(
                    task,
                    "TASK_KILLED",
                    source="SOURCE_AGENT",
                    reason="REASON_TASK_KILLED_DURING_LAUNCH",
                    message="Task killed before it was launched",
                )
                return
        try:
            with open(command.cwd / "stdout", "ab") as out, open(command.cwd / "stderr", "ab") as err:
                kwargs: dict[str, Any] = {}
                if command.user is not None:
                    user = command.user
                    kwargs.update(
                        user=user.pw_uid,
                        group=user.pw_gid,
                        extra_groups=os.getgrouplist(user.pw_name, user.pw_gid),
                    )
                process = subprocess.Popen(
                    command.argv,
                    executable=command.executable,
                    cwd=command.cwd,
                    env=command.env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    close_fds=True,
                    **kwargs,
                )
        except OSError as exc:
            self._agent_update(
                task,
                "TASK_FAILED",
                reason="REASON_COMMAND_EXECUTOR_FAILED",
                message=f"Failed to launch command {command.executable!r}: {exc.strerror or exc}",
            )
            return
        with self._lock:
            task.process = process
            if task.removed or self._stopping:
                self._signal(task, signal.SIGKILL)
            else:
                self._agent_update(task, "TASK_RUNNING")
                if task.kill_requested:  # the KILL arrived while the process was starting
                    self._begin_kill(task)
                max_time = (task.info.get("max_completion_time") or {}).get("nanoseconds")
                if max_time is not None:
                    task.completion_deadline = time.monotonic() + int(max_time) / 1e9
        returncode = process.wait()
        with self._lock:
            task.exit_code = returncode
            task.kill_deadline = None
            task.completion_deadline = None
            if task.removed:
                self._release(task)
                return
            if returncode >= 0:
                message = f"Command exited with status {returncode}"
            else:
                message = f"Command terminated with signal {_signal_name(-returncode)}"
            if task.completion_timed_out:
                self._agent_update(
                    task,
                    "TASK_FAILED",
                    reason="REASON_MAX_COMPLETION_TIME_REACHED",
                    message=f"Task exceeded its max completion time; {message}",
                )
            elif task.kill_requested:
                self._agent_update(task, "TASK_KILLED", message=message)
            elif returncode == 0:
                self._agent_update(task, "TASK_FINISHED", message=message)
            else:
                self._agent_update(task, "TASK_FAILED", message=message)

    def _prepare(self, task: _Task) -> _Command:
        """Make the sandbox, decide what runs, check the user and environment, fetch the URIs."""
        ti = task.info
        command: dict[str, Any] = ti["command"]
        sandbox = task.sandbox
        sandbox.mkdir(parents=True, exist_ok=True)
        latest = sandbox.parent / "latest"
        with contextlib.suppress(FileNotFoundError):
            latest.unlink()
        latest.symlink_to(sandbox.name)
        (sandbox / "stdout").touch()
        (sandbox / "stderr").touch()

        plan = plan_launch(
            ti,
            task_id=task.id,
            container_id=task.container_id,
            sandbox=sandbox,
            images=self.images,
            resources=task.resources,
            allocation_role=task.allocation_role,
        )
        with self._lock:
            task.plan = plan
        for target, host in plan.links:
            if os.path.isabs(target):
                continue  # the host path itself (checked by the plan)
            link = (sandbox / target).resolve()
            if not link.is_relative_to(sandbox.resolve()):
                raise _LaunchFailure(f"Failed to launch container: volume '{target}' escapes the sandbox")
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(host)

        # Tasks run as CommandInfo.user, else as FrameworkInfo.user (when the agent can
        # switch users, that is when it runs as root; otherwise as itself).
        user = None
        fw = self._frameworks.get(task.framework_id)
        wanted = command.get("user") or (fw.info.get("user") if fw is not None and os.geteuid() == 0 else None)
        current = pwd.getpwuid(os.geteuid()).pw_name
        if wanted and wanted != current:
            if os.geteuid() != 0:
                raise _LaunchFailure(
                    f"Failed to launch container: cannot run as user '{wanted}': the local "
                    f"master runs as '{current}' and can only switch users as root"
                )
            try:
                user = pwd.getpwnam(wanted)
            except KeyError:
                raise _LaunchFailure(
                    f"Failed to launch container: user '{wanted}' does not exist on this host"
                ) from None

        env = dict(os.environ)
        for variable in (command.get("environment") or {}).get("variables") or []:
            if variable.get("type") == "SECRET":
                raise _LaunchFailure(
                    f"Failed to launch container: secret environment variable '{variable['name']}' "
                    "is not supported by the local master"
                )
        env.update(plan.env)
        env.update(
            {
                "MESOS_TASK_ID": task.id,
                "MESOS_FRAMEWORK_ID": task.framework_id,
                "MESOS_EXECUTOR_ID": task.id,
                "MESOS_AGENT_ID": task.agent_id,
                "MESOS_SANDBOX": str(sandbox),
                "MESOS_DIRECTORY": str(sandbox),
                "MESOS_AGENT_ENDPOINT": f"{self.advertised_ip}:{self.port}",
                "MESOS_CONTAINER_ID": task.container_id,
                "MESOS_ALLOCATION_ROLE": task.allocation_role,
            }
        )
        if user is not None:
            env.update({"USER": user.pw_name, "LOGNAME": user.pw_name, "HOME": user.pw_dir})

        try:
            for uri in command.get("uris") or []:
                fetch_uri(uri, sandbox)
        except _LaunchFailure as exc:
            raise _LaunchFailure(
                f"Failed to launch container: Failed to fetch all URIs for container: {exc.message}"
            ) from None
        if user is not None:
            for path in [sandbox, *sandbox.rglob("*")]:
                with contextlib.suppress(OSError):
                    os.lchown(path, user.pw_uid, user.pw_gid)

        executable = plan.executable
        resolved = executable if "/" in executable else shutil.which(executable, path=env.get("PATH"))
        if resolved is None:
            raise _LaunchFailure(
                f"Failed to launch command: executable '{executable}' not found on PATH",
                "REASON_COMMAND_EXECUTOR_FAILED",
            )
        return _Command(list(plan.argv), resolved, env, user, sandbox)

    def _kill_task(self, task: _Task, grace: float | None) -> None:
        """KILL: SIGTERM the process group now, SIGKILL it when the grace period ends."""
        if task.terminal:
            return
        task.kill_requested = True
        if grace is not None:
            task.kill_grace = grace
        if task.process is not None:
            self._begin_kill(task)
        # else: the runner sees the flag before (or right after) starting the process.

    def _begin_kill(self, task: _Task) -> None:
        fw = self._frameworks.get(task.framework_id)
        if not task.killing_sent and fw is not None and "TASK_KILLING_STATE" in fw.capabilities:
            task.killing_sent = True
            self._agent_update(task, "TASK_KILLING")
        self._signal(task, signal.SIGTERM)
        grace = task.kill_grace if task.kill_grace is not None else self._grace_period(task.info.get("kill_policy"))
        deadline = time.monotonic() + grace
        task.kill_deadline = deadline if task.kill_deadline is None else min(task.kill_deadline, deadline)

    @staticmethod
    def _signal(task: _Task, sig: signal.Signals) -> None:
        process = task.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)

    def _release(self, task: _Task) -> None:
        if not task.holds_resources:
            return
        task.holds_resources = False
        agent = self._agents.get(task.agent_id)
        if agent is not None:
            agent.used = agent.used - task.resources

    def _forget_task(self, task: _Task, *, kill: bool) -> None:
        """Drop a task from the master and its agent (framework or agent gone); its process is killed."""
        fw = self._frameworks.get(task.framework_id)
        if fw is not None and fw.tasks.get(task.id) is task:
            del fw.tasks[task.id]
        agent = self._agents.get(task.agent_id)
        if agent is not None and agent.tasks.get(task.key) is task:
            del agent.tasks[task.key]
        task.removed = True
        task.pending.clear()
        self._unacked.discard(task)
        self._release(task)
        self._completed.append(task)
        if kill and task.process is not None and task.process.poll() is None:
            # Nobody is told about it any more; the scheduler thread SIGKILLs it after the grace.
            self._signal(task, signal.SIGTERM)
            task.kill_deadline = time.monotonic() + self._grace_period(task.info.get("kill_policy"))
