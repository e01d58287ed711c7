"""``batch/errors.py``: every SDK exception type has a translation, and each says the right thing.

The first test walks every exception class azure-core, azure-batch and azure-identity
define and fails on one that ``TRANSLATIONS`` does not name: a new upstream type must be
decided on, not fall through to the generic row by accident.
"""

from __future__ import annotations

import importlib
import inspect
import json
from types import SimpleNamespace

import azure.core.exceptions as core_exceptions
import pytest
from azure.batch.models import CreateTasksError
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import HttpResponse
from azure.identity import CredentialUnavailableError

from shipyard.batch.errors import TRANSLATIONS, qualified, translate, translated
from shipyard.errors import BatchError, EngineError

#: Modules whose exception classes can reach the CLI through the SDK.
SDK_MODULES = ("azure.core.exceptions", "azure.batch", "azure.batch.models",
               "azure.batch._patch", "azure.batch.models._patch", "azure.identity",
               "azure.identity._exceptions")


def sdk_exception_types() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for name in SDK_MODULES:
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, AzureError):
                found.add(value)
    return found


def test_every_sdk_exception_type_has_a_translation() -> None:
    types = sdk_exception_types()
    assert AzureError in types and CreateTasksError in types  # the walk sees what it should
    unmapped = sorted(qualified(cls) for cls in types if qualified(cls) not in TRANSLATIONS)
    assert unmapped == [], f"add a row to batch/errors.py TRANSLATIONS for: {unmapped}"


def test_no_row_names_a_type_that_does_not_exist() -> None:
    known = {qualified(cls) for cls in sdk_exception_types()}
    assert sorted(set(TRANSLATIONS) - known) == []


def test_the_walk_catches_a_new_type() -> None:
    class NewUpstreamError(HttpResponseError):
        pass

    assert qualified(NewUpstreamError) not in TRANSLATIONS


class FakeResponse(HttpResponse):  # type: ignore[misc]
    """A transport response with a status and a JSON body, as the service sends them."""

    def __init__(self, status: int, body: dict[str, object]) -> None:
        super().__init__(None, None)  # type: ignore[arg-type]
        self.status_code = status
        self.reason = "Conflict" if status == 409 else "Error"
        self.headers = {"content-type": "application/json"}
        self.content_type = "application/json"
        self._body = json.dumps(body).encode()

    def body(self) -> bytes:
        return self._body

    def text(self, encoding: str | None = None) -> str:
        return self._body.decode()


def service_error(cls: type[HttpResponseError], status: int, code: str,
                  message: str) -> HttpResponseError:
    from azure.batch._patch import BatchErrorFormat

    body = {"code": code, "message": {"lang": "en-US",
                                      "value": f"{message}\nRequestId:abc\nTime:now"},
            "values": [{"key": "Reason", "value": "because"}]}
    return cls(response=FakeResponse(status, body), error_format=BatchErrorFormat)


def test_a_service_refusal_keeps_status_code_message_and_values() -> None:
    exc = service_error(ResourceExistsError, 409, "PoolExists", "The specified pool already "
                                                                "exists.")
    error = translate(exc)
    assert isinstance(error, BatchError)
    assert (error.status, error.code, error.detail) == (409, "PoolExists",
                                                        "The specified pool already exists.")
    assert error.values == [("Reason", "because")]
    assert error.hint is not None and "pool del" in error.hint


def test_not_found_and_authentication_are_the_service_s_refusals() -> None:
    for cls, status, code in ((ResourceNotFoundError, 404, "JobNotFound"),
                              (ClientAuthenticationError, 403, "AuthenticationFailed")):
        error = translate(service_error(cls, status, code, "no"))
        assert isinstance(error, BatchError) and (error.status, error.code) == (status, code)


def test_an_unreachable_endpoint_names_where() -> None:
    with pytest.raises(EngineError) as caught, translated(lambda: "http://127.0.0.1:9"):
        raise ServiceRequestError("Connection refused")
    assert caught.value.message.startswith("cannot reach the Batch service at "
                                           "http://127.0.0.1:9: Connection refused")
    assert isinstance(caught.value.__cause__, ServiceRequestError)


def test_a_broken_answer_is_ours_not_the_user_s() -> None:
    error = translate(ServiceResponseError("Connection reset"), "http://h")
    assert isinstance(error, EngineError)
    assert "broke off its answer" in error.message


def test_create_tasks_error_names_the_first_refused_task() -> None:
    from azure.batch import models

    failures = [models.BatchTaskCreateResult(
        status="clienterror", task_id=f"t{i}",
        error=models.BatchError(code="TaskExists", message=models.BatchErrorMessage(
            value="The specified task already exists."))) for i in range(3)]
    error = translate(CreateTasksError(failure_tasks=failures))
    assert isinstance(error, BatchError)
    assert error.code == "TaskExists"
    assert error.detail.startswith("task t0: ")
    assert error.detail.endswith("(and 2 more task(s))")


def test_create_tasks_error_of_a_connection_failure_is_translated_as_that() -> None:
    error = translate(CreateTasksError(errors=[ServiceRequestError("refused")]), "http://h")
    assert isinstance(error, EngineError) and "cannot reach" in error.message


def test_a_credential_that_cannot_sign_in_says_what_to_check() -> None:
    error = translate(CredentialUnavailableError("no az login"))
    assert isinstance(error, BatchError) and error.code == "CredentialUnavailable"
    assert error.hint is not None and "aad" in error.hint


def make(cls: type[AzureError]) -> AzureError:
    """An instance of ``cls``; the stream errors are built from a response."""
    try:
        return cls("x")
    except AttributeError:
        return cls(SimpleNamespace(request="GET http://h/x"))  # type: ignore[arg-type]


def test_every_transport_type_is_an_engine_error() -> None:
    for _, cls in inspect.getmembers(core_exceptions, inspect.isclass):
        if issubclass(cls, AzureError) and not issubclass(cls, HttpResponseError):
            assert isinstance(translate(make(cls), "http://h"), EngineError), cls


def test_errors_outside_the_sdk_pass_through() -> None:
    with pytest.raises(KeyError), translated("http://h"):
        raise KeyError("ours")
