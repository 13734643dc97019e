"""The allocator: which free resources go to which framework, and in what shape.

Mixed into :class:`~moroccron.mesos.local.master.LocalMaster`; runs under its lock.
Like the Mesos hierarchical allocator with its defaults:

* only connected agents are offered, and only to connected frameworks, per role they
  subscribed with and did not suppress; a framework's decline filters hold resources
  back for ``refuse_seconds``;
* unreserved resources may go to any role, resources reserved for a role only to that
  role: an offer is allocated to one role (``allocation_info``) and holds the
  unreserved resources and that role's reservation;
* an agent with GPUs is offered only to frameworks with the GPU_RESOURCES capability
  (the master's ``--filter_gpu_resources``);
* less than 0.01 cpus and 32 MB of memory is not worth an offer (the default
  ``min_allocatable_resources``);
* an agent with a maintenance window carries it in its offers (``unavailability``),
  and frameworks running tasks there are sent inverse offers.
"""

from __future__ import annotations

import uuid
from typing import Any

from moroccron.mesos.local.resources import RoleResources
from moroccron.mesos.local.state import _Agent, _Framework, _id, _InverseOffer, _Offer
from moroccron.mesos.messages import event

_MIN_OFFER_CPUS = 0.01
_MIN_OFFER_MEM = 32.0


def _worth_offering(resources: RoleResources) -> bool:
    return resources.scalar("cpus") >= _MIN_OFFER_CPUS or resources.scalar("mem") >= _MIN_OFFER_MEM


class _Allocator:
    """Offers, rescinds, inverse offers."""

    def _wake_allocation(self) -> None:
        self._allocate_now = True
        self._cond.notify_all()

    def _allocate(self, now: float) -> None:
        """Offer each agent's free resources to one eligible framework, round robin."""
        frameworks = [fw for fw in self._frameworks.values() if fw.connected and not fw.suppressed]
        if not frameworks:
            return
        outstanding: dict[str, RoleResources] = {}
        for offer in self._offers.values():
            outstanding[offer.agent_id] = outstanding.get(offer.agent_id, RoleResources()) + offer.resources
        batches: dict[str, list[dict[str, Any]]] = {}
        for agent in self._agents.values():
            if not agent.registered:
                continue
            free = agent.total - agent.used - outstanding.get(agent.id, RoleResources())
            if not _worth_offering(free):
                continue
            for step in range(len(frameworks)):
                fw = frameworks[(self._rr + step) % len(frameworks)]
                if agent.total.scalar("gpus") > 0 and "GPU_RESOURCES" not in fw.capabilities:
                    continue  # Mesos keeps GPU agents for GPU-aware frameworks
                fw.filters = [f for f in fw.filters if f.expires > now]
                made = False
                for role in fw.roles:
                    if role in fw.suppressed_roles:
                        continue
                    part = free.allocatable_to(role)
                    if not _worth_offering(part):
                        continue
                    if any(
                        f.agent_id == agent.id and f.role == role and f.resources.contains(part) for f in fw.filters
                    ):
                        continue
                    self._offer_seq += 1
                    offer = _Offer(
                        id=f"{self._master_id}-O{self._offer_seq}",
                        framework_id=fw.id,
                        agent_id=agent.id,
                        role=role,
                        resources=part,
                        created=now,
                    )
                    self._offers[offer.id] = offer
                    batches.setdefault(fw.id, []).append(self._offer_json(offer, agent, fw))
                    free = free - part
                    made = True
                if made:
                    break
            self._rr += 1
        for fid, offers in batches.items():
            self._send(self._frameworks[fid], event("OFFERS", {"offers": offers}))

    def _agent_url(self, agent: _Agent) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "address": {"hostname": self.advertised_host, "ip": self.advertised_ip, "port": self.port},
            "path": f"/agents/{agent.id}",
        }

    def _offer_json(self, offer: _Offer, agent: _Agent, fw: _Framework) -> dict[str, Any]:
        # A framework without MULTI_ROLE sees no allocation info, one without
        # RESERVATION_REFINEMENT the old reservation format: what master.cpp does.
        out: dict[str, Any] = {
            "id": _id(offer.id),
            "framework_id": _id(fw.id),
            "agent_id": _id(agent.id),
            "hostname": agent.spec.hostname,
            "url": self._agent_url(agent),
            "resources": offer.resources.to_json(
                allocation_role=offer.role if fw.multi_role else None, refinement=fw.refinement
            ),
            "attributes": agent.spec.attributes_json(),
            "executor_ids": [],
        }
        if fw.multi_role:
            out["allocation_info"] = {"role": offer.role}
        unavailability = agent.unavailability()
        if unavailability is not None:
            out["unavailability"] = unavailability
        return out

    def _rescind(self, offer: _Offer) -> None:
        self._offers.pop(offer.id, None)
        fw = self._frameworks.get(offer.framework_id)
        if fw is not None:
            self._send(fw, event("RESCIND", {"offer_id": _id(offer.id)}))

    # -- maintenance ----------------------------------------------------------------------

    def _offer_inverse(self, agent: _Agent) -> None:
        """Ask every framework using ``agent`` to give it back before its window."""
        unavailability = agent.unavailability()
        if unavailability is None:
            return
        users = {t.framework_id for t in agent.tasks.values() if not t.terminal}
        users |= {o.framework_id for o in self._offers.values() if o.agent_id == agent.id}
        for fid in sorted(users):
            fw = self._frameworks.get(fid)
            if fw is None:
                continue
            inverse = _InverseOffer(f"{self._master_id}-I{uuid.uuid4().hex[:12]}", fid, agent.id, unavailability)
            self._inverse_offers[inverse.id] = inverse
            self._send(fw, event("INVERSE_OFFERS", {"inverse_offers": [self._inverse_offer_json(inverse)]}))

    def _rescind_inverse(self, agent_id: str) -> None:
        for inverse in [i for i in self._inverse_offers.values() if i.agent_id == agent_id]:
            del self._inverse_offers[inverse.id]
            fw = self._frameworks.get(inverse.framework_id)
            if fw is not None:
                self._send(fw, event("RESCIND_INVERSE_OFFER", {"inverse_offer_id": _id(inverse.id)}))

    def _send_inverse_offers(self, fw: _Framework) -> None:
        """A (re-)subscribed framework gets the inverse offers still open for it."""
        mine = [i for i in self._inverse_offers.values() if i.framework_id == fw.id and i.answer is None]
        if mine:
            self._send(fw, event("INVERSE_OFFERS", {"inverse_offers": [self._inverse_offer_json(i) for i in mine]}))

    def _inverse_offer_json(self, inverse: _InverseOffer) -> dict[str, Any]:
        agent = self._agents.get(inverse.agent_id)
        out: dict[str, Any] = {
            "id": _id(inverse.id),
            "framework_id": _id(inverse.framework_id),
            "agent_id": _id(inverse.agent_id),
            "unavailability": inverse.unavailability,
        }
        if agent is not None:
            out["url"] = self._agent_url(agent)
        return out
