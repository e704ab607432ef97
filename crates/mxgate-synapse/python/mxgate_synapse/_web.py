"""The trust endpoint: ``GET /_synapse/client/mxgate/v1/rooms/{roomId}/trust``."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from synapse.module_api import DirectServeJsonResource
from synapse.module_api.errors import Codes, SynapseError

if TYPE_CHECKING:
    from synapse.module_api import SynapseRequest

    from . import TrustModule

#: Where the resource is registered; the room id and ``trust`` follow it.
PREFIX = "/_synapse/client/mxgate/v1/rooms"


class TrustResource(DirectServeJsonResource):
    """Serves a room's trust level to its joined members (401 without a valid token,
    403 ``M_FORBIDDEN`` for non-members, 404 ``M_NOT_FOUND`` for a room this server
    does not know)."""

    isLeaf = True

    def __init__(self, module: "TrustModule"):
        super().__init__()
        self._module = module

    async def _async_render_GET(self, request: "SynapseRequest") -> tuple[int, Any]:
        requester = await self._module.api.get_user_by_req(request)
        parts = [urllib.parse.unquote(p.decode("utf-8", "replace")) for p in request.postpath]
        parts = [p for p in parts if p] if parts[-1:] == [""] else parts
        if len(parts) != 2 or parts[1] != "trust" or not parts[0]:
            raise SynapseError(404, "Unrecognized request", Codes.UNRECOGNIZED)
        return 200, await self._module.room_trust_for(parts[0], requester.user.to_string())
