"""Taking a pool slot is atomic across engines: the first to create the bridge has it."""

from __future__ import annotations

from shipyard.engine.nodes import PoolNet, claim_bridge, delete_pool_network, subnet_for_slot

SLOT = 245


def test_a_slot_is_claimed_once() -> None:
    net = PoolNet(SLOT, subnet_for_slot(SLOT))
    try:
        assert claim_bridge(net)
        # A second engine that also found the slot free loses the race, and says so.
        assert not claim_bridge(net)
    finally:
        delete_pool_network(net)
    assert claim_bridge(net)
    delete_pool_network(net)
