"""Translation of SDK and transport errors into our error tree, at one boundary.

``translated()`` wraps every SDK call made by the CLI. Each exception type the SDK can
raise has one row in ``TRANSLATIONS`` saying what it becomes:

    HttpResponseError and kin        BatchError: the service's status, code, message and
                                     detail values (the service refused the request)
    CreateTasksError (azure-batch)   BatchError naming the first task the service refused
    ServiceRequestError (+ timeout)  EngineError: the endpoint cannot be reached
    ServiceResponseError (+ timeout) EngineError: the connection broke mid-answer
    Stream*, ResponseNotRead         EngineError: a download ended early
    AzureError (anything else)       EngineError naming the SDK's message

A unit test walks every exception class of azure-core, azure-batch and azure-identity
and fails on one without a row, so a new upstream type is a decision, not a surprise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from azure.core.exceptions import AzureError, HttpResponseError

from shipyard.errors import BatchError, EngineError, ShipyardError

_HINTS = {
    "AuthenticationFailed": "check account_key and account_service_url in credentials.yaml",
    "PoolNotFound": "create it with 'shipyard pool add'",
    "JobNotFound": "list jobs with 'shipyard jobs list'",
    "PoolExists": "delete it first with 'shipyard pool del', or pick another id",
    "JobExists": "use 'shipyard jobs add --recreate', or pick another id",
    "PoolBeingDeleted": "wait for the deletion to finish, then try again",
    "NodeNotFound": "list nodes with 'shipyard pool nodes list'",
    "TaskNotFound": "list tasks with 'shipyard jobs tasks list'",
}

#: Where the CLI was talking to, for messages about the connection; a callable so the
#: endpoint is only worked out when an error needs it.
Where = Callable[[], str]
Translate = Callable[[AzureError, str], ShipyardError]


def from_sdk(exc: HttpResponseError) -> BatchError:
    """The service's refusal as our BatchError (status, code, message, details)."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or (exc.reason or "HttpError").replace(" ", "")
    message = getattr(error, "message", None) or exc.message or str(exc)
    message = message.split("\nRequestId:", 1)[0]
    details = [(d.code, d.message) for d in getattr(error, "details", None) or []]
    status = exc.status_code or 0
    return BatchError(status, code, message, details, hint=_HINTS.get(code))


def _refused(exc: AzureError, where: str) -> ShipyardError:
    assert isinstance(exc, HttpResponseError)
    return from_sdk(exc)


def _tasks_refused(exc: AzureError, where: str) -> ShipyardError:
    """``create_tasks`` refused some tasks: name the first, count the rest."""
    failures = list(getattr(exc, "failure_tasks", None) or [])
    errors = list(getattr(exc, "errors", None) or [])
    if failures:
        first = failures[0]
        code = getattr(first.error, "code", None) or "TaskRefused"
        message = getattr(first.error, "message", None) or "refused"
        more = f" (and {len(failures) - 1} more task(s))" if len(failures) > 1 else ""
        return BatchError(400, code, f"task {first.task_id}: {message}{more}",
                          hint=_HINTS.get(code))
    if errors and isinstance(errors[0], AzureError):
        return translate(errors[0], where)
    return EngineError(f"adding tasks failed: {exc.message}")


def _unreachable(exc: AzureError, where: str) -> ShipyardError:
    return EngineError(f"cannot reach the Batch service at {where or 'its endpoint'}: "
                       f"{exc.message}",
                       hint="for the local engine run 'shipyard local start'")


def _broken_answer(exc: AzureError, where: str) -> ShipyardError:
    return EngineError(f"the Batch service at {where or 'its endpoint'} broke off its "
                       f"answer: {exc.message}", hint="try again; the request may have "
                       "been carried out")


def _no_credential(exc: AzureError, where: str) -> ShipyardError:
    return BatchError(401, "CredentialUnavailable", exc.message or str(exc),
                      hint="check credentials.batch.aad or the --aad-* options "
                           "(or sign in with 'az login')")


def _other(exc: AzureError, where: str) -> ShipyardError:
    return EngineError(f"the Batch SDK failed: {exc.message or exc}")


_CORE = "azure.core.exceptions."

#: Every SDK exception type (by module and name, so nothing is imported for it) and what
#: it becomes; the row of the most specific class of an exception wins.
TRANSLATIONS: dict[str, Translate] = {
    f"{_CORE}AzureError": _other,
    f"{_CORE}HttpResponseError": _refused,
    f"{_CORE}ClientAuthenticationError": _refused,
    f"{_CORE}ResourceExistsError": _refused,
    f"{_CORE}ResourceNotFoundError": _refused,
    f"{_CORE}ResourceModifiedError": _refused,
    f"{_CORE}ResourceNotModifiedError": _refused,
    f"{_CORE}ODataV4Error": _refused,
    f"{_CORE}TooManyRedirectsError": _refused,
    f"{_CORE}DecodeError": _broken_answer,
    f"{_CORE}IncompleteReadError": _broken_answer,
    f"{_CORE}ServiceRequestError": _unreachable,
    f"{_CORE}ServiceRequestTimeoutError": _unreachable,
    f"{_CORE}ServiceResponseError": _broken_answer,
    f"{_CORE}ServiceResponseTimeoutError": _broken_answer,
    f"{_CORE}StreamConsumedError": _broken_answer,
    f"{_CORE}StreamClosedError": _broken_answer,
    f"{_CORE}ResponseNotReadError": _broken_answer,
    "azure.batch.models._patch.CreateTasksError": _tasks_refused,
    "azure.identity._exceptions.CredentialUnavailableError": _no_credential,
    "azure.identity._exceptions.AuthenticationRequiredError": _no_credential,
}


def qualified(cls: type) -> str:
    """A class's key in ``TRANSLATIONS``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def translate(exc: AzureError, where: str = "") -> ShipyardError:
    """The row of the most specific class of ``exc`` applied to it."""
    for cls in type(exc).__mro__:
        row = TRANSLATIONS.get(qualified(cls))
        if row is not None:
            return row(exc, where)
    return _other(exc, where)  # pragma: no cover - AzureError always has a row


@contextmanager
def translated(where: str | Where = "") -> Iterator[None]:
    """Turn SDK exceptions raised inside into our error tree."""
    try:
        yield
    except AzureError as exc:
        endpoint = where() if callable(where) else where
        raise translate(exc, endpoint) from exc
