"""Routes for pools, their nodes and the nodes' files; each one line of translation."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from shipyard.engine.api.app import Call, Router
from shipyard.engine.api.responses import empty, file_handlers, listing, resource
from shipyard.engine.services.pools import PoolService


def register(router: Router, pools: PoolService) -> None:
    """Attach every pool and node route to ``router``."""

    def create_pool(call: Call) -> Response:
        doc = pools.create(call.json())
        return empty(201, doc, doc["url"])

    def list_pools(call: Call) -> Response:
        return listing(call, pools.all(), "pools")

    def get_pool(call: Call) -> Response:
        return resource(call, pools.get(call.params[0]).doc, "pools/@Element")

    def pool_exists(call: Call) -> Response:
        return empty(200, pools.get(call.params[0]).doc)

    def delete_pool(call: Call) -> Response:
        pools.delete(call.params[0], call.headers.get("if-match"))
        return empty(202)

    def resize_pool(call: Call) -> Response:
        doc = pools.resize(call.params[0], call.json(), call.headers.get("if-match"))
        return empty(202, doc, f"{doc['url']}/resize")

    def list_nodes(call: Call) -> Response:
        return listing(call, pools.nodes(call.params[0]), "nodes")

    def get_node(call: Call) -> Response:
        return resource(call, pools.node(*call.params).doc, "nodes/@Element")

    list_node_files, get_node_file = file_handlers(
        lambda call: pools.node_root(call.params[0], call.params[1]), _files_url)

    router.add("POST", "pools", create_pool)
    router.add("GET", "pools", list_pools)
    router.add("GET", "pools/*", get_pool)
    router.add("HEAD", "pools/*", pool_exists)
    router.add("DELETE", "pools/*", delete_pool)
    router.add("POST", "pools/*/resize", resize_pool)
    router.add("GET", "pools/*/nodes", list_nodes)
    router.add("GET", "pools/*/nodes/*", get_node)
    router.add("GET", "pools/*/nodes/*/files", list_node_files)
    router.add("GET", "pools/*/nodes/*/files/*", get_node_file)
    router.add("HEAD", "pools/*/nodes/*/files/*", get_node_file)


def _files_url(call: Call) -> str:
    pool_id, node_id = call.params[0], call.params[1]
    return f"{call.base_url}/pools/{quote(pool_id)}/nodes/{quote(node_id)}/files"
