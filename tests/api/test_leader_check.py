"""Which leader address a standby trusts: ZooKeeper's first contender must be the leader the
database recorded (and one of ``peers`` when they are listed); one warning per distinct mismatch."""

from __future__ import annotations

import logging

from moroccron.api.leader import MISMATCH, NO_LEADER, NOT_A_PEER, NOT_RECORDED, LeaderVerifier

GENUINE = {"instance": "host-a:1:ab", "address": "10.0.0.11:4400"}
RECORDED = {"leader_id": "host-a:1:ab", "address": "10.0.0.11:4400", "epoch": 3}


def test_agreement_is_trusted():
    check = LeaderVerifier().check(GENUINE, RECORDED)
    assert check.address == "10.0.0.11:4400" and check.problem is None


def test_a_planted_contender_is_not_trusted_whatever_it_claims():
    verifier = LeaderVerifier()
    planted = {"instance": "evil", "address": "127.0.0.1:4599"}
    assert verifier.check(planted, RECORDED).address is None
    # it copies the genuine leader's instance id, or its address, but not both
    assert verifier.check({**GENUINE, "address": "127.0.0.1:4599"}, RECORDED).problem == MISMATCH
    assert verifier.check({**GENUINE, "instance": "evil"}, RECORDED).problem == MISMATCH
    # garbage in the node (Leadership.leader gives None for both)
    assert verifier.check({"instance": None, "address": None}, RECORDED).problem == MISMATCH


def test_nobody_elected_or_not_recorded_yet():
    verifier = LeaderVerifier()
    assert verifier.check(None, RECORDED).problem == NO_LEADER
    assert verifier.check(GENUINE, None).problem == NOT_RECORDED
    assert verifier.check_address(None).problem == NO_LEADER


def test_peers_restrict_even_an_agreed_leader():
    verifier = LeaderVerifier(("10.0.0.12:4400", "10.0.0.13:4400"))
    check = verifier.check(GENUINE, RECORDED)
    assert check.address is None and check.problem == NOT_A_PEER
    assert LeaderVerifier(("10.0.0.11:4400",)).check(GENUINE, RECORDED).address == "10.0.0.11:4400"
    assert verifier.check_address("10.0.0.12:4400").address == "10.0.0.12:4400"


def test_one_warning_per_distinct_mismatch_and_no_log_injection(caplog):
    verifier = LeaderVerifier()
    planted = {"instance": "evil\nFAKE LOG LINE", "address": "127.0.0.1:4599" + "x" * 5000}
    with caplog.at_level(logging.WARNING, logger="moroccron.api.leader"):
        for _ in range(50):
            verifier.check(planted, RECORDED)
        verifier.check({**planted, "address": "127.0.0.1:4600"}, RECORDED)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert "\nFAKE" not in warnings[0] and "evil\\nFAKE" in warnings[0], "attacker text is quoted, on one line"
    assert len(warnings[0]) < 1000, "attacker text is truncated"
    assert "host-a:1:ab" in warnings[0] and "10.0.0.11:4400" in warnings[0]
