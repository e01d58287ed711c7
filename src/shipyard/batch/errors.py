"""Translation of SDK and transport errors into our error tree, at one boundary.

``translated()`` wraps every SDK call made by the CLI: a service refusal becomes a
``BatchError`` with the service's status and code, and a connection failure an
``EngineError`` that says where it tried to connect.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
)

from shipyard.errors import BatchError, EngineError

_HINTS = {
    "AuthenticationFailed": "check account_key and account_service_url in credentials.yaml",
    "PoolNotFound": "create it with 'shipyard pool add'",
    "JobNotFound": "list jobs with 'shipyard jobs list'",
    "PoolExists": "delete it first with 'shipyard pool del', or pick another id",
    "JobExists": "use 'shipyard jobs add --recreate', or pick another id",
    "PoolBeingDeleted": "wait for the deletion to finish, then try again",
}


def from_sdk(exc: HttpResponseError) -> BatchError:
    """The service's refusal as our BatchError (status, code, message, details)."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or (exc.reason or "HttpError").replace(" ", "")
    message = getattr(error, "message", None) or exc.message or str(exc)
    message = message.split("\nRequestId:", 1)[0]
    details = [(d.code, d.message) for d in getattr(error, "details", None) or []]
    status = exc.status_code or 0
    return BatchError(status, code, message, details, hint=_HINTS.get(code))


@contextmanager
def translated(endpoint: str = "") -> Iterator[None]:
    """Turn SDK exceptions raised inside into our error tree."""
    try:
        yield
    except ClientAuthenticationError as exc:
        raise from_sdk(exc) from exc
    except HttpResponseError as exc:
        raise from_sdk(exc) from exc
    except ServiceRequestError as exc:
        raise EngineError(f"cannot reach the Batch service at {endpoint or 'its endpoint'}: "
                          f"{exc.message}",
                          hint="for the local engine run 'shipyard local start'") from exc
    except AzureError as exc:
        raise EngineError(f"the Batch SDK failed: {exc}") from exc
