"""tinc's meta protocol, sans-IO: request lines and flood bookkeeping.

:mod:`.requests` turns request lines into frozen dataclasses and back;
:mod:`.past` remembers flooded requests so that each is handled once;
:mod:`.connection` is what every cipher suite's meta connection shares.
"""

from tinca.core.meta.past import PastRequests
from tinca.core.meta.requests import Request, RequestError, RequestType, parse_request

__all__ = ["PastRequests", "Request", "RequestError", "RequestType", "parse_request"]
