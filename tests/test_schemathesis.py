"""The OpenAPI document tells the truth: schemathesis generates requests for every operation from it (with and
without the editor token), and every answer must be a documented status with a documented media type, headers
and a body matching its schema, never a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests import support

TOKEN = "schemathesis-editor"


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    from api.app import create_app
    from api.settings import Settings, hash_token

    store = support.demo_store(tmp_path_factory.mktemp("schemathesis"), 1500, seed=11)
    app = create_app(Settings(store=store.root, editor_token_hashes=(hash_token(TOKEN),)))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_operation_answers_as_documented(api_schema):
    failures = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(case):
            # every check but "schema-valid data must be accepted": a parameter's schema cannot say all that
            # makes it valid (a bbox's corner order, a tile inside its zoom, an adcode of the build), and the
            # service answers those with a documented 400
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - every operation is tried; all failures are reported
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert len(operations) > 10
    assert failures == [], "\n\n".join(failures)
