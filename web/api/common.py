"""What the API's resource modules share: models of paging, JSON conversion of rows."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

from flask import jsonify
from pydantic import BaseModel, ConfigDict, Field

from partnerflow.engine.config import as_utc


class Strict(BaseModel):
    """A request body: unknown fields are refused, naming them."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel):
    limit: int = Field(50, ge=1, le=200, description="Nombre d'éléments par page")
    offset: int = Field(0, ge=0, le=1_000_000, description="Éléments à sauter")


def jsonable(value: Any) -> Any:
    """Rows, dataclasses and dates as JSON values (datetimes in UTC, ISO 8601)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def columns(row, names: tuple[str, ...]) -> dict:
    return {name: jsonable(getattr(row, name)) for name in names}


def ok(body, status: int = 200):
    response = jsonify(jsonable(body))
    response.status_code = status
    return response


def created(body, location: str):
    response = ok(body, 201)
    response.headers["Location"] = location
    return response
