"""Routes for pools, their nodes and the nodes' files; each one line of translation."""

from __future__ import annotations

from urllib.parse import quote

from shipyard.engine.api.app import Call, Router
from shipyard.engine.api.handlers import add_collection, add_files, body, calls, changed, if_match
from shipyard.engine.api.responses import listing, resource
from shipyard.engine.services.pools import PoolService


def register(router: Router, pools: PoolService) -> None:
    """Attach every pool and node route to ``router``."""
    add_collection(router, "pools", pools, head=True)
    router.add("POST", "pools/*/resize",
               calls(pools.resize, body, if_match, answer=changed(202, "/resize")))
    router.add("GET", "pools/*/nodes",
               lambda call: listing(call, pools.nodes(*call.params), "nodes"))
    router.add("GET", "pools/*/nodes/*",
               lambda call: resource(call, pools.node(*call.params).doc, "nodes/@Element"))
    add_files(router, "pools/*/nodes/*",
              lambda call: pools.node_root(call.params[0], call.params[1]), _files_url)


def _files_url(call: Call) -> str:
    pool_id, node_id = call.params[0], call.params[1]
    return f"{call.base_url}/pools/{quote(pool_id)}/nodes/{quote(node_id)}/files"
