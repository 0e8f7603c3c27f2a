"""What the OpenAPI document says beyond what the routes declare: the links from the calls that
create something to the calls that use it (clients and stateful tests follow them), and the 413
every call with a body may answer (`api/security.py`'s body limit)."""

from __future__ import annotations

from typing import Any

API = "/api/v1"

# (path, method, status) -> {link name: (target operation's path, method, parameters, body)}
_LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, str], dict[str, str]]]] = {
    ("/borrowers/{borrower_id}", "put", "200"): {
        "PutContactOfBorrower": (
            "/borrowers/{borrower_id}/contacts/{contact_id}",
            "put",
            {"path.borrower_id": "$response.body#/id"},
            {},
        ),
        "PutAccountOfBorrower": (
            "/accounts/{account_id}",
            "put",
            {},
            {"borrower_id": "$response.body#/id"},
        ),
    },
    ("/accounts/{account_id}", "put", "200"): {
        "PutDueItemsOfAccount": (
            "/accounts/{account_id}/due-items",
            "put",
            {"path.account_id": "$response.body#/id"},
            {},
        ),
        "PostPaymentToAccount": (
            "/payments",
            "post",
            {},
            {"account_id": "$response.body#/id"},
        ),
    },
    ("/webhooks", "post", "201"): {
        "DeleteWebhook": (
            "/webhooks/{webhook_id}",
            "delete",
            {"path.webhook_id": "$response.body#/id"},
            {},
        ),
        "ListWebhooks": ("/webhooks", "get", {}, {}),
    },
    ("/cases", "get", "200"): {
        "GetCase": ("/cases/{case_id}", "get", {"path.case_id": "$response.body#/items/0/id"}, {}),
    },
    ("/cases/{case_id}", "get", "200"): {
        name: (f"/cases/{{case_id}}/{part}", "get", {"path.case_id": "$response.body#/id"}, {})
        for name, part in (
            ("GetInteractions", "interactions"),
            ("GetPromises", "promises"),
            ("GetPlans", "plans"),
        )
    },
}

TOO_LARGE = {
    "description": "Request body too large",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def _operation_id(paths: dict[str, Any], path: str, method: str) -> str | None:
    operation = paths.get(API + path, {}).get(method)
    return None if operation is None else operation.get("operationId")


def contract_in_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the links and the 413 responses to the generated document (in place; returned)."""
    paths = schema.get("paths", {})
    for (path, method, status), links in _LINKS.items():
        response = paths.get(API + path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        out: dict[str, Any] = {}
        for name, (target, target_method, parameters, body) in links.items():
            operation_id = _operation_id(paths, target, target_method)
            if operation_id is None:
                continue
            link: dict[str, Any] = {"operationId": operation_id}
            if parameters:
                link["parameters"] = parameters
            if body:
                link["requestBody"] = body
            out[name] = link
        if out:
            response["links"] = out
    for item in paths.values():
        for operation in item.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation.setdefault("responses", {}).setdefault("413", TOO_LARGE)
    return schema
